/*
 * SurgiTwin's OpenXR API layer "XR_APILAYER_SURGITWIN_runtime_loss": lets an OpenVR application on OpenComposite
 * survive an OpenXR runtime that dies mid-session.
 *
 * Why: OpenComposite (the OpenVR API over OpenXR) wraps every OpenXR call in an abort-on-failure, and a runtime
 * whose service died answers the next call with XR_ERROR_INSTANCE_LOST, without a LOSS_PENDING state first; so
 * the process is aborted before any OpenVR call can tell the application. Between OpenComposite and the runtime,
 * this layer turns the first fatal result (instance lost, session lost, runtime failure) into harmless results
 * from then on (no pose, nothing to render, frames accepted and dropped) and makes xrPollEvent deliver the
 * session's LOSS_PENDING then EXITING states, which OpenComposite turns into an OpenVR Quit event. The
 * application then shuts OpenVR down as after any Quit; surgitwin_xr_loss_layer_lost() tells it why.
 *
 * Objects made after the loss (OpenComposite swaps its start-up session for one on the application's OpenGL
 * context at the first Submit, which a loss can precede) are stand-ins: handles of ours, never passed on.
 *
 * Only the calls OpenComposite makes during a session are wrapped (see DrvOpenXR/ and OpenOVR/ in its source);
 * everything else goes straight to the next layer or the runtime. Before a loss every wrapped call is passed
 * through unchanged, so the layer changes nothing for a healthy runtime. One instance at a time (OpenComposite
 * makes one).
 */
#define _POSIX_C_SOURCE 200809L
#include <openxr/openxr.h>

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LAYER_NAME "XR_APILAYER_SURGITWIN_runtime_loss"
#define EXPORT __attribute__((visibility("default")))

/* The loader <-> layer negotiation ABI (OpenXR loader's loader_interfaces.h, interface version 1; not in the
 * public headers of every SDK, so declared here). */
typedef enum XrLoaderInterfaceStructs {
    XR_LOADER_INTERFACE_STRUCT_UNINTIALIZED = 0,
    XR_LOADER_INTERFACE_STRUCT_LOADER_INFO,
    XR_LOADER_INTERFACE_STRUCT_API_LAYER_REQUEST,
    XR_LOADER_INTERFACE_STRUCT_RUNTIME_REQUEST,
    XR_LOADER_INTERFACE_STRUCT_API_LAYER_CREATE_INFO,
    XR_LOADER_INTERFACE_STRUCT_API_LAYER_NEXT_INFO,
} XrLoaderInterfaceStructs;

typedef struct XrNegotiateLoaderInfo {
    XrLoaderInterfaceStructs structType;
    uint32_t structVersion;
    size_t structSize;
    uint32_t minInterfaceVersion;
    uint32_t maxInterfaceVersion;
    XrVersion minApiVersion;
    XrVersion maxApiVersion;
} XrNegotiateLoaderInfo;

struct XrApiLayerCreateInfo;
typedef XrResult(XRAPI_PTR *PFN_xrCreateApiLayerInstance)(const XrInstanceCreateInfo *info,
                                                          const struct XrApiLayerCreateInfo *layerInfo,
                                                          XrInstance *instance);

typedef struct XrNegotiateApiLayerRequest {
    XrLoaderInterfaceStructs structType;
    uint32_t structVersion;
    size_t structSize;
    uint32_t layerInterfaceVersion;
    XrVersion layerApiVersion;
    PFN_xrGetInstanceProcAddr getInstanceProcAddr;
    PFN_xrCreateApiLayerInstance createApiLayerInstance;
} XrNegotiateApiLayerRequest;

typedef struct XrApiLayerNextInfo {
    XrLoaderInterfaceStructs structType;
    uint32_t structVersion;
    size_t structSize;
    char layerName[XR_MAX_API_LAYER_NAME_SIZE];
    PFN_xrGetInstanceProcAddr nextGetInstanceProcAddr;
    PFN_xrCreateApiLayerInstance nextCreateApiLayerInstance;
    struct XrApiLayerNextInfo *next;
} XrApiLayerNextInfo;

typedef struct XrApiLayerCreateInfo {
    XrLoaderInterfaceStructs structType;
    uint32_t structVersion;
    size_t structSize;
    void *loaderInstance;
    char settings_file_location[512];
    XrApiLayerNextInfo *nextInfo;
} XrApiLayerCreateInfo;

/* ------------------------------------------------------------------ state */
static PFN_xrGetInstanceProcAddr next_gipa;
static atomic_int lost;           /* 1 once the runtime has gone away */
static char lost_reason[160];     /* "xrWaitFrame: XR_ERROR_INSTANCE_LOST" */
static XrSession current_session; /* the session the loss events are for */
static int loss_events_sent;      /* 0: LOSS_PENDING next, 1: EXITING next, 2: nothing more */
static XrTime last_display_time;  /* to keep predicted display times moving after the loss */
static uint64_t stand_ins;        /* handles made after the loss: STAND_IN_TAG | serial */

#define STAND_IN_TAG 0x5e1f000000000000ull
#define IS_STAND_IN(handle) (((uint64_t)(handle) & 0xffff000000000000ull) == STAND_IN_TAG)
#define STAND_IN(type) ((type)(STAND_IN_TAG | ++stand_ins))

#define NEXT(fn) static PFN_##fn next_##fn
NEXT(xrDestroyInstance);
NEXT(xrPollEvent);
NEXT(xrCreateSession);
NEXT(xrDestroySession);
NEXT(xrBeginSession);
NEXT(xrEndSession);
NEXT(xrRequestExitSession);
NEXT(xrWaitFrame);
NEXT(xrBeginFrame);
NEXT(xrEndFrame);
NEXT(xrLocateViews);
NEXT(xrLocateSpace);
NEXT(xrDestroySpace);
NEXT(xrCreateReferenceSpace);
NEXT(xrCreateActionSpace);
NEXT(xrAttachSessionActionSets);
NEXT(xrEnumerateSwapchainFormats);
NEXT(xrCreateSwapchain);
NEXT(xrEnumerateSwapchainImages);
NEXT(xrGetReferenceSpaceBoundsRect);
NEXT(xrAcquireSwapchainImage);
NEXT(xrWaitSwapchainImage);
NEXT(xrReleaseSwapchainImage);
NEXT(xrDestroySwapchain);
NEXT(xrSyncActions);
NEXT(xrGetActionStateBoolean);
NEXT(xrGetActionStateFloat);
NEXT(xrGetActionStateVector2f);
NEXT(xrGetActionStatePose);
NEXT(xrApplyHapticFeedback);
NEXT(xrStopHapticFeedback);
NEXT(xrGetCurrentInteractionProfile);
NEXT(xrEnumerateBoundSourcesForAction);
NEXT(xrDestroyAction);
NEXT(xrDestroyActionSet);
NEXT(xrLocateHandJointsEXT);

static const char *result_name(XrResult result)
{
    switch (result) {
    case XR_ERROR_INSTANCE_LOST: return "XR_ERROR_INSTANCE_LOST";
    case XR_ERROR_SESSION_LOST: return "XR_ERROR_SESSION_LOST";
    case XR_ERROR_RUNTIME_FAILURE: return "XR_ERROR_RUNTIME_FAILURE";
    default: return "?";
    }
}

/* The results that mean the runtime (or its hold on our session) is gone for good. */
static int is_fatal(XrResult result)
{
    return result == XR_ERROR_INSTANCE_LOST || result == XR_ERROR_SESSION_LOST || result == XR_ERROR_RUNTIME_FAILURE;
}

/* Record the loss (once) and say so on stderr: the application's log shows why the session ended. */
static void mark_lost(const char *call, XrResult result)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&lost, &expected, 1)) {
        snprintf(lost_reason, sizeof lost_reason, "%s: %s", call, result_name(result));
        fprintf(stderr, "[" LAYER_NAME "] %s; the runtime is gone: the session is ended as lost\n", lost_reason);
        fflush(stderr);
    }
}

/* Pass a call through while the runtime lives; once lost (before or by this call) answer with FAKE instead. */
#define GUARD(call, expr, fake)                      \
    do {                                             \
        if (!atomic_load(&lost)) {                   \
            XrResult guard_result = (expr);          \
            if (!is_fatal(guard_result))             \
                return guard_result;                 \
            mark_lost(call, guard_result);           \
        }                                            \
        fake;                                        \
    } while (0)

/* Destroy calls: pass through (to free what the client side holds), never fail after a loss; stand-ins are ours. */
#define DESTROY(handle, expr)                        \
    do {                                             \
        if (IS_STAND_IN(handle))                     \
            return XR_SUCCESS;                       \
        XrResult destroy_result = (expr);            \
        if (atomic_load(&lost) || is_fatal(destroy_result)) \
            return XR_SUCCESS;                       \
        return destroy_result;                       \
    } while (0)

static const XrPosef identity_pose = {{0.0f, 0.0f, 0.0f, 1.0f}, {0.0f, 0.0f, 0.0f}};

/* ------------------------------------------------------------------ events, session */
static XrResult XRAPI_CALL layer_xrPollEvent(XrInstance instance, XrEventDataBuffer *event)
{
    GUARD("xrPollEvent", next_xrPollEvent(instance, event), (void)0);
    if (loss_events_sent >= 2)
        return XR_EVENT_UNAVAILABLE;
    if (current_session == XR_NULL_HANDLE) {
        XrEventDataInstanceLossPending *loss = (XrEventDataInstanceLossPending *)event;
        memset(loss, 0, sizeof *loss);
        loss->type = XR_TYPE_EVENT_DATA_INSTANCE_LOSS_PENDING;
        loss->lossTime = last_display_time;
        loss_events_sent = 2;
        return XR_SUCCESS;
    }
    XrEventDataSessionStateChanged *changed = (XrEventDataSessionStateChanged *)event;
    memset(changed, 0, sizeof *changed);
    changed->type = XR_TYPE_EVENT_DATA_SESSION_STATE_CHANGED;
    changed->session = current_session;
    changed->state = loss_events_sent == 0 ? XR_SESSION_STATE_LOSS_PENDING : XR_SESSION_STATE_EXITING;
    changed->time = last_display_time;
    loss_events_sent++;
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrCreateSession(XrInstance instance, const XrSessionCreateInfo *info,
                                                 XrSession *session)
{
    if (!atomic_load(&lost)) {
        XrResult result = next_xrCreateSession(instance, info, session);
        if (!is_fatal(result)) {
            if (XR_SUCCEEDED(result))
                current_session = *session;
            return result;
        }
        mark_lost("xrCreateSession", result);
    }
    *session = STAND_IN(XrSession);
    current_session = *session;
    loss_events_sent = 0; /* the new session ends the same way: LOSS_PENDING, EXITING */
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrDestroySession(XrSession session)
{
    if (session == current_session)
        current_session = XR_NULL_HANDLE;
    DESTROY(session, next_xrDestroySession(session));
}

static XrResult XRAPI_CALL layer_xrBeginSession(XrSession session, const XrSessionBeginInfo *info)
{
    GUARD("xrBeginSession", next_xrBeginSession(session, info), return XR_SUCCESS);
}

static XrResult XRAPI_CALL layer_xrEndSession(XrSession session)
{
    GUARD("xrEndSession", next_xrEndSession(session), return XR_SUCCESS);
}

static XrResult XRAPI_CALL layer_xrRequestExitSession(XrSession session)
{
    GUARD("xrRequestExitSession", next_xrRequestExitSession(session), return XR_SUCCESS);
}

/* ------------------------------------------------------------------ frames */
static XrResult XRAPI_CALL layer_xrWaitFrame(XrSession session, const XrFrameWaitInfo *info, XrFrameState *state)
{
    if (!atomic_load(&lost)) {
        XrResult result = next_xrWaitFrame(session, info, state);
        if (!is_fatal(result)) {
            if (XR_SUCCEEDED(result))
                last_display_time = state->predictedDisplayTime;
            return result;
        }
        mark_lost("xrWaitFrame", result);
    }
    /* Nothing to render; pace at about 90 Hz so an application loop does not spin until it sees the Quit. */
    struct timespec pause = {0, 11 * 1000 * 1000};
    nanosleep(&pause, NULL);
    last_display_time += 11 * 1000 * 1000;
    state->predictedDisplayTime = last_display_time;
    state->predictedDisplayPeriod = 11 * 1000 * 1000;
    state->shouldRender = XR_FALSE;
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrBeginFrame(XrSession session, const XrFrameBeginInfo *info)
{
    GUARD("xrBeginFrame", next_xrBeginFrame(session, info), return XR_SUCCESS);
}

static XrResult XRAPI_CALL layer_xrEndFrame(XrSession session, const XrFrameEndInfo *info)
{
    GUARD("xrEndFrame", next_xrEndFrame(session, info), return XR_SUCCESS);
}

static XrResult XRAPI_CALL layer_xrLocateViews(XrSession session, const XrViewLocateInfo *info, XrViewState *state,
                                               uint32_t capacity, uint32_t *count, XrView *views)
{
    GUARD("xrLocateViews", next_xrLocateViews(session, info, state, capacity, count, views), (void)0);
    state->viewStateFlags = 0; /* no valid pose: the application shows nothing new */
    *count = 2;
    if (capacity == 0)
        return XR_SUCCESS;
    if (capacity < 2)
        return XR_ERROR_SIZE_INSUFFICIENT;
    for (uint32_t i = 0; i < 2; i++) {
        views[i].pose = identity_pose;
        views[i].fov = (XrFovf){-0.785f, 0.785f, 0.785f, -0.785f};
    }
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrLocateSpace(XrSpace space, XrSpace base, XrTime time, XrSpaceLocation *location)
{
    GUARD("xrLocateSpace", next_xrLocateSpace(space, base, time, location), (void)0);
    location->locationFlags = 0;
    location->pose = identity_pose;
    for (XrBaseOutStructure *chained = (XrBaseOutStructure *)location->next; chained; chained = chained->next)
        if (chained->type == XR_TYPE_SPACE_VELOCITY)
            ((XrSpaceVelocity *)chained)->velocityFlags = 0;
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrDestroySpace(XrSpace space)
{
    DESTROY(space, next_xrDestroySpace(space));
}

static XrResult XRAPI_CALL layer_xrCreateReferenceSpace(XrSession session, const XrReferenceSpaceCreateInfo *info,
                                                        XrSpace *space)
{
    GUARD("xrCreateReferenceSpace", next_xrCreateReferenceSpace(session, info, space), (void)0);
    *space = STAND_IN(XrSpace);
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrCreateActionSpace(XrSession session, const XrActionSpaceCreateInfo *info,
                                                     XrSpace *space)
{
    GUARD("xrCreateActionSpace", next_xrCreateActionSpace(session, info, space), (void)0);
    *space = STAND_IN(XrSpace);
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrGetReferenceSpaceBoundsRect(XrSession session, XrReferenceSpaceType type,
                                                               XrExtent2Df *bounds)
{
    GUARD("xrGetReferenceSpaceBoundsRect", next_xrGetReferenceSpaceBoundsRect(session, type, bounds),
          (void)0);
    bounds->width = bounds->height = 0.0f;
    return XR_SPACE_BOUNDS_UNAVAILABLE;
}

/* ------------------------------------------------------------------ swapchains */
static XrResult XRAPI_CALL layer_xrEnumerateSwapchainFormats(XrSession session, uint32_t capacity, uint32_t *count,
                                                             int64_t *formats)
{
    GUARD("xrEnumerateSwapchainFormats", next_xrEnumerateSwapchainFormats(session, capacity, count, formats),
          (void)0);
    /* GL_SRGB8_ALPHA8, GL_RGBA8, VK_FORMAT_R8G8B8A8_SRGB, VK_FORMAT_B8G8R8A8_SRGB: what OpenComposite asks for. */
    static const int64_t offered[] = {0x8C43, 0x8058, 43, 50};
    *count = sizeof offered / sizeof offered[0];
    if (capacity == 0)
        return XR_SUCCESS;
    if (capacity < *count)
        return XR_ERROR_SIZE_INSUFFICIENT;
    memcpy(formats, offered, sizeof offered);
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrCreateSwapchain(XrSession session, const XrSwapchainCreateInfo *info,
                                                   XrSwapchain *swapchain)
{
    GUARD("xrCreateSwapchain", next_xrCreateSwapchain(session, info, swapchain), (void)0);
    *swapchain = STAND_IN(XrSwapchain);
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrEnumerateSwapchainImages(XrSwapchain swapchain, uint32_t capacity, uint32_t *count,
                                                            XrSwapchainImageBaseHeader *images)
{
    if (!IS_STAND_IN(swapchain))
        GUARD("xrEnumerateSwapchainImages", next_xrEnumerateSwapchainImages(swapchain, capacity, count, images),
              (void)0);
    /* A stand-in's images stay as the caller set them (name 0): a session that never runs never draws there. */
    *count = 3;
    return capacity == 0 || capacity >= 3 ? XR_SUCCESS : XR_ERROR_SIZE_INSUFFICIENT;
}

static XrResult XRAPI_CALL layer_xrAcquireSwapchainImage(XrSwapchain swapchain,
                                                         const XrSwapchainImageAcquireInfo *info, uint32_t *index)
{
    GUARD("xrAcquireSwapchainImage", next_xrAcquireSwapchainImage(swapchain, info, index), (void)0);
    *index = 0; /* the client's images outlive the service; whatever is drawn there is dropped */
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrWaitSwapchainImage(XrSwapchain swapchain, const XrSwapchainImageWaitInfo *info)
{
    GUARD("xrWaitSwapchainImage", next_xrWaitSwapchainImage(swapchain, info), return XR_SUCCESS);
}

static XrResult XRAPI_CALL layer_xrReleaseSwapchainImage(XrSwapchain swapchain,
                                                         const XrSwapchainImageReleaseInfo *info)
{
    GUARD("xrReleaseSwapchainImage", next_xrReleaseSwapchainImage(swapchain, info), return XR_SUCCESS);
}

static XrResult XRAPI_CALL layer_xrDestroySwapchain(XrSwapchain swapchain)
{
    DESTROY(swapchain, next_xrDestroySwapchain(swapchain));
}

/* ------------------------------------------------------------------ input */
static XrResult XRAPI_CALL layer_xrSyncActions(XrSession session, const XrActionsSyncInfo *info)
{
    GUARD("xrSyncActions", next_xrSyncActions(session, info), return XR_SUCCESS);
}

static XrResult XRAPI_CALL layer_xrAttachSessionActionSets(XrSession session,
                                                           const XrSessionActionSetsAttachInfo *info)
{
    GUARD("xrAttachSessionActionSets", next_xrAttachSessionActionSets(session, info), return XR_SUCCESS);
}

static XrResult XRAPI_CALL layer_xrGetActionStateBoolean(XrSession session, const XrActionStateGetInfo *info,
                                                         XrActionStateBoolean *state)
{
    GUARD("xrGetActionStateBoolean", next_xrGetActionStateBoolean(session, info, state), (void)0);
    state->currentState = state->changedSinceLastSync = state->isActive = XR_FALSE;
    state->lastChangeTime = 0;
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrGetActionStateFloat(XrSession session, const XrActionStateGetInfo *info,
                                                       XrActionStateFloat *state)
{
    GUARD("xrGetActionStateFloat", next_xrGetActionStateFloat(session, info, state), (void)0);
    state->currentState = 0.0f;
    state->changedSinceLastSync = state->isActive = XR_FALSE;
    state->lastChangeTime = 0;
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrGetActionStateVector2f(XrSession session, const XrActionStateGetInfo *info,
                                                          XrActionStateVector2f *state)
{
    GUARD("xrGetActionStateVector2f", next_xrGetActionStateVector2f(session, info, state), (void)0);
    state->currentState.x = state->currentState.y = 0.0f;
    state->changedSinceLastSync = state->isActive = XR_FALSE;
    state->lastChangeTime = 0;
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrGetActionStatePose(XrSession session, const XrActionStateGetInfo *info,
                                                      XrActionStatePose *state)
{
    GUARD("xrGetActionStatePose", next_xrGetActionStatePose(session, info, state), (void)0);
    state->isActive = XR_FALSE;
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrApplyHapticFeedback(XrSession session, const XrHapticActionInfo *info,
                                                       const XrHapticBaseHeader *feedback)
{
    GUARD("xrApplyHapticFeedback", next_xrApplyHapticFeedback(session, info, feedback), return XR_SUCCESS);
}

static XrResult XRAPI_CALL layer_xrStopHapticFeedback(XrSession session, const XrHapticActionInfo *info)
{
    GUARD("xrStopHapticFeedback", next_xrStopHapticFeedback(session, info), return XR_SUCCESS);
}

static XrResult XRAPI_CALL layer_xrGetCurrentInteractionProfile(XrSession session, XrPath user_path,
                                                                XrInteractionProfileState *profile)
{
    GUARD("xrGetCurrentInteractionProfile", next_xrGetCurrentInteractionProfile(session, user_path, profile),
          (void)0);
    profile->interactionProfile = XR_NULL_PATH;
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrEnumerateBoundSourcesForAction(XrSession session,
                                                                  const XrBoundSourcesForActionEnumerateInfo *info,
                                                                  uint32_t capacity, uint32_t *count, XrPath *sources)
{
    GUARD("xrEnumerateBoundSourcesForAction",
          next_xrEnumerateBoundSourcesForAction(session, info, capacity, count, sources), (void)0);
    *count = 0;
    return XR_SUCCESS;
}

static XrResult XRAPI_CALL layer_xrDestroyAction(XrAction action)
{
    DESTROY(action, next_xrDestroyAction(action));
}

static XrResult XRAPI_CALL layer_xrDestroyActionSet(XrActionSet set)
{
    DESTROY(set, next_xrDestroyActionSet(set));
}

static XrResult XRAPI_CALL layer_xrLocateHandJointsEXT(XrHandTrackerEXT tracker, const XrHandJointsLocateInfoEXT *info,
                                                       XrHandJointLocationsEXT *locations)
{
    GUARD("xrLocateHandJointsEXT", next_xrLocateHandJointsEXT(tracker, info, locations), (void)0);
    locations->isActive = XR_FALSE;
    return XR_SUCCESS;
}

/* ------------------------------------------------------------------ instance, dispatch */
static XrResult XRAPI_CALL layer_xrDestroyInstance(XrInstance instance)
{
    XrResult result = next_xrDestroyInstance(instance);
    int was_lost = atomic_load(&lost);
    current_session = XR_NULL_HANDLE;
    if (was_lost || is_fatal(result))
        return XR_SUCCESS;
    return result;
}

static const struct {
    const char *name;
    PFN_xrVoidFunction *next;
    PFN_xrVoidFunction layer;
} wrapped[] = {
#define WRAP(fn) {#fn, (PFN_xrVoidFunction *)&next_##fn, (PFN_xrVoidFunction)layer_##fn}
    WRAP(xrDestroyInstance), WRAP(xrPollEvent), WRAP(xrCreateSession), WRAP(xrDestroySession),
    WRAP(xrBeginSession), WRAP(xrEndSession), WRAP(xrRequestExitSession), WRAP(xrWaitFrame),
    WRAP(xrBeginFrame), WRAP(xrEndFrame), WRAP(xrLocateViews), WRAP(xrLocateSpace), WRAP(xrDestroySpace),
    WRAP(xrCreateReferenceSpace), WRAP(xrCreateActionSpace), WRAP(xrAttachSessionActionSets),
    WRAP(xrEnumerateSwapchainFormats), WRAP(xrCreateSwapchain), WRAP(xrEnumerateSwapchainImages),
    WRAP(xrGetReferenceSpaceBoundsRect), WRAP(xrAcquireSwapchainImage), WRAP(xrWaitSwapchainImage),
    WRAP(xrReleaseSwapchainImage), WRAP(xrDestroySwapchain), WRAP(xrSyncActions), WRAP(xrGetActionStateBoolean),
    WRAP(xrGetActionStateFloat), WRAP(xrGetActionStateVector2f), WRAP(xrGetActionStatePose),
    WRAP(xrApplyHapticFeedback), WRAP(xrStopHapticFeedback), WRAP(xrGetCurrentInteractionProfile),
    WRAP(xrEnumerateBoundSourcesForAction), WRAP(xrDestroyAction), WRAP(xrDestroyActionSet),
    WRAP(xrLocateHandJointsEXT),
#undef WRAP
};

static XrResult XRAPI_CALL layer_xrGetInstanceProcAddr(XrInstance instance, const char *name,
                                                       PFN_xrVoidFunction *function)
{
    for (size_t i = 0; i < sizeof wrapped / sizeof wrapped[0]; i++) {
        if (strcmp(name, wrapped[i].name) == 0) {
            /* A function the runtime lacks (an extension not enabled) stays absent. */
            if (*wrapped[i].next == NULL) {
                *function = NULL;
                return XR_ERROR_FUNCTION_UNSUPPORTED;
            }
            *function = wrapped[i].layer;
            return XR_SUCCESS;
        }
    }
    if (next_gipa == NULL) { /* asked before any instance: nothing below us yet */
        *function = NULL;
        return XR_ERROR_HANDLE_INVALID;
    }
    return next_gipa(instance, name, function);
}

static XrResult XRAPI_CALL layer_xrCreateApiLayerInstance(const XrInstanceCreateInfo *info,
                                                          const XrApiLayerCreateInfo *layer_info,
                                                          XrInstance *instance)
{
    if (layer_info == NULL || layer_info->nextInfo == NULL || strcmp(layer_info->nextInfo->layerName, LAYER_NAME))
        return XR_ERROR_INITIALIZATION_FAILED;
    /* The next layer gets the chain minus our link. */
    XrApiLayerCreateInfo next_info = *layer_info;
    next_info.nextInfo = layer_info->nextInfo->next;
    XrResult result = layer_info->nextInfo->nextCreateApiLayerInstance(info, &next_info, instance);
    if (XR_FAILED(result))
        return result;
    next_gipa = layer_info->nextInfo->nextGetInstanceProcAddr;
    atomic_store(&lost, 0);
    lost_reason[0] = '\0';
    current_session = XR_NULL_HANDLE;
    loss_events_sent = 0;
    last_display_time = 0;
    stand_ins = 0;
    for (size_t i = 0; i < sizeof wrapped / sizeof wrapped[0]; i++) {
        *wrapped[i].next = NULL;
        if (XR_FAILED(next_gipa(*instance, wrapped[i].name, wrapped[i].next)))
            *wrapped[i].next = NULL;
    }
    return XR_SUCCESS;
}

EXPORT XrResult XRAPI_CALL xrNegotiateLoaderApiLayerInterface(const XrNegotiateLoaderInfo *loader_info,
                                                               const char *layer_name,
                                                               XrNegotiateApiLayerRequest *request)
{
    if (loader_info == NULL || request == NULL || loader_info->structType != XR_LOADER_INTERFACE_STRUCT_LOADER_INFO ||
        request->structType != XR_LOADER_INTERFACE_STRUCT_API_LAYER_REQUEST)
        return XR_ERROR_INITIALIZATION_FAILED;
    if (layer_name != NULL && strcmp(layer_name, LAYER_NAME) != 0)
        return XR_ERROR_INITIALIZATION_FAILED;
    if (loader_info->minInterfaceVersion > 1 || loader_info->maxInterfaceVersion < 1)
        return XR_ERROR_INITIALIZATION_FAILED;
    request->layerInterfaceVersion = 1;
    request->layerApiVersion = XR_CURRENT_API_VERSION;
    request->getInstanceProcAddr = layer_xrGetInstanceProcAddr;
    request->createApiLayerInstance = layer_xrCreateApiLayerInstance;
    return XR_SUCCESS;
}

/* ------------------------------------------------------------------ for the application (ctypes) */
/** 1 once the runtime has gone away in this process's current OpenXR instance, else 0. */
EXPORT int surgitwin_xr_loss_layer_lost(void)
{
    return atomic_load(&lost);
}

/** The call and result that revealed the loss ("xrWaitFrame: XR_ERROR_INSTANCE_LOST"), or "". */
EXPORT const char *surgitwin_xr_loss_layer_reason(void)
{
    return lost_reason;
}
