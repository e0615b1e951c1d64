"""The SurgiTwin workstation: Qt widgets around the Qt-free case model and VTK views."""
