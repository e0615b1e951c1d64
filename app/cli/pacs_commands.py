"""``surgitwin pacs query|retrieve|send|nodes``: the PACS from the command line.

The node is a saved one (``--node NAME``, from the settings the workstation writes), or given inline:
``--dimse AET@HOST:PORT`` (C-FIND, C-GET/C-MOVE, C-STORE) or ``--url URL`` (QIDO-RS, WADO-RS, STOW-RS).  A DICOMweb
password comes from ``$SURGITWIN_PACS_PASSWORD``, the keyring, or a prompt on a terminal; it is never a command-line
argument (that would leave it in the shell history and the process list).

Wiring into :mod:`app.cli.main`::

    from app.cli.pacs_commands import COMMANDS as PACS_COMMANDS, add_parsers as add_pacs_parsers
    add_pacs_parsers(sub)                        # in build_parser()
    # and in main(): commands = {..., **PACS_COMMANDS}

User errors (unreachable node, bad date, unknown node name) print one line on stderr and return exit status 2.
Runs standalone too: ``python -m app.cli.pacs_commands pacs query --dimse ORTHANC@localhost:4242``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from app.cli.standalone import positive_float, positive_int, run_subcommands

__all__ = ["COMMANDS", "add_parsers", "cmd_pacs", "main"]

_DIMSE = re.compile(r"^(?P<aet>[^@]{1,16})@(?P<host>[^:@]+):(?P<port>\d{1,5})$")


def _node_options(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--node", metavar="NAME", help="a node saved in the PACS settings (`surgitwin pacs nodes`)")
    where.add_argument("--dimse", metavar="AET@HOST:PORT", help="a DICOM node, e.g. ORTHANC@pacs.local:4242")
    where.add_argument("--url", help="a DICOMweb service root, e.g. https://pacs.example.org/dicom-web")
    p.add_argument("--user", default="", help="DICOMweb user name (password: $SURGITWIN_PACS_PASSWORD, keyring or "
                                              "prompt)")
    p.add_argument("--ca-bundle", default="", help="PEM file of certificate authorities to trust (DICOMweb, TLS)")
    p.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate (test servers only)")
    p.add_argument("--calling-ae", default="SURGITWIN", help="our AE title (default SURGITWIN)")
    p.add_argument("--storage-port", type=positive_int, default=11113,
                   help="port of our storage SCP during a C-MOVE (default 11113)")
    p.add_argument("--timeout", type=positive_float, default=None, help="network timeout in seconds")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``pacs`` with its ``query``, ``retrieve``, ``send`` and ``nodes`` subcommands on ``subparsers``."""
    pacs = subparsers.add_parser("pacs", help="query a PACS, retrieve studies into the local store, send files")
    sub = pacs.add_subparsers(dest="pacs_command", required=True, parser_class=type(pacs))

    q = sub.add_parser("query", help="find studies (or the series of one study with --study)")
    _node_options(q)
    q.add_argument("--patient-id", default="")
    q.add_argument("--patient-name", default="", help="starts with; * and ? as wildcards")
    q.add_argument("--date", default="", help="YYYYMMDD, YYYY-MM-DD or a range FROM-TO / FROM..TO")
    q.add_argument("--modality", default="")
    q.add_argument("--accession", default="")
    q.add_argument("--study", default="", metavar="UID", help="list the series of this study")
    q.add_argument("--json", action="store_true", help="machine-readable output")

    r = sub.add_parser("retrieve", help="retrieve a study (or series) into the local store, all or nothing")
    _node_options(r)
    r.add_argument("--study", required=True, metavar="UID")
    r.add_argument("--series", action="append", default=[], metavar="UID", help="only this series (repeatable)")
    r.add_argument("--method", choices=("get", "move", "wado"), default=None,
                   help="C-GET (default for DICOM nodes), C-MOVE, or WADO-RS (DICOMweb)")
    r.add_argument("--store", type=Path, default=None, help="local store folder (default: the saved setting, "
                                                            "else ~/.local/share/surgitwin/dicom)")

    s = sub.add_parser("send", help="send DICOM files or folders (C-STORE or STOW-RS)")
    _node_options(s)
    s.add_argument("paths", nargs="+", type=Path)

    sub.add_parser("nodes", help="list the saved nodes")
    pacs.set_defaults(func=cmd_pacs)


class _UserError(Exception):
    pass


def _node(args: argparse.Namespace):
    from imaging.pacs import DicomWebNode, DimseNode, load_settings

    if args.node:
        return load_settings().get(args.node)
    timeout = {"timeout_s": args.timeout} if args.timeout else {}
    if args.dimse:
        m = _DIMSE.match(args.dimse)
        if not m:
            raise _UserError(f"--dimse {args.dimse!r} must look like AET@HOST:PORT, e.g. ORTHANC@localhost:4242")
        return DimseNode("command line", m["aet"], m["host"], int(m["port"]), calling_ae=args.calling_ae,
                         storage_port=args.storage_port, **timeout)
    return DicomWebNode("command line", args.url, verify_tls=not args.insecure, ca_bundle=args.ca_bundle,
                        username=args.user, **timeout)


def _password(node) -> str | None:
    from imaging.pacs import DicomWebNode
    from imaging.pacs.credentials import get_password

    if not isinstance(node, DicomWebNode) or not node.username:
        return None
    password = os.environ.get("SURGITWIN_PACS_PASSWORD") or get_password(node.name, node.username)
    if password is None:
        if not sys.stdin.isatty():
            raise _UserError(f"the DICOMweb password of {node.username!r} is needed: set SURGITWIN_PACS_PASSWORD")
        password = getpass.getpass(f"Password of {node.username} at {node.url}: ")
    return password


def _progress(fraction: float, message: str) -> None:
    if sys.stderr.isatty():
        print(f"\r  {int(100 * fraction):3d}%  {message:60.60s}", end="", file=sys.stderr, flush=True)


def _query(args: argparse.Namespace) -> int:
    from imaging.pacs import StudyQuery, find_series, find_studies

    node = _node(args)
    password = _password(node)
    if args.study:
        series = find_series(node, args.study, password=password)
        if args.json:
            json.dump([s.__dict__ for s in series], sys.stdout, indent=2)
            print()
            return 0
        for s in series:
            print(f"{s.series_uid}  #{s.series_number if s.series_number is not None else '-'}  {s.modality:4s} "
                  f"{s.n_instances if s.n_instances is not None else '?':>5} images  {s.series_description}")
        print(f"{len(series)} series")
        return 0
    query = StudyQuery(patient_id=args.patient_id, patient_name=args.patient_name, study_date=args.date,
                       modality=args.modality, accession_number=args.accession)
    studies = find_studies(node, query, password=password)
    if args.json:
        json.dump([{**s.__dict__, "modalities": list(s.modalities)} for s in studies], sys.stdout, indent=2)
        print()
        return 0
    for s in studies:
        print(f"{s.study_uid}  {s.study_date or '--------'}  {'/'.join(s.modalities):8s} "
              f"{s.patient_id:12s} {s.patient_name:24s} {s.study_description}")
    print(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}")
    return 0


def _retrieve(args: argparse.Namespace) -> int:
    from imaging.pacs import LocalStore, load_settings, retrieve

    node = _node(args)
    store = LocalStore(args.store if args.store is not None else load_settings().store)
    result = retrieve(node, store, args.study, args.series, method=args.method, password=_password(node),
                      progress=_progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(f"retrieved {result.n_instances} images ({len(result.scan.series)} series) in {result.seconds:.1f} s "
          f"into {result.study_folder}")
    return 0


def _send(args: argparse.Namespace) -> int:
    from imaging.pacs import send

    node = _node(args)
    n = send(node, args.paths, password=_password(node), progress=_progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(f"sent {n} file(s) to {node.describe()}")
    return 0


def _nodes(_args: argparse.Namespace) -> int:
    from imaging.pacs import DimseNode, load_settings
    from imaging.pacs.credentials import password_storage
    from imaging.pacs.nodes import default_settings_path

    settings = load_settings()
    for n in settings.nodes:
        where = f"{n.ae_title}@{n.host}:{n.port}" if isinstance(n, DimseNode) else n.url
        print(f"{n.name}\t{n.kind}\t{where}")
    print(f"{len(settings.nodes)} node(s) in {default_settings_path()}; store {settings.store}; {password_storage()}")
    return 0


def cmd_pacs(args: argparse.Namespace) -> int:
    """Run ``surgitwin pacs ...``; PACS and input errors are one line on stderr and exit status 2."""
    from imaging.pacs import PacsCancelled, PacsError

    handlers = {"query": _query, "retrieve": _retrieve, "send": _send, "nodes": _nodes}
    try:
        return handlers[args.pacs_command](args)
    except PacsCancelled:
        print("surgitwin: cancelled; nothing was kept", file=sys.stderr)
        return 130
    except (PacsError, _UserError) as exc:
        print(f"surgitwin: error: {exc}", file=sys.stderr)
        return 2


COMMANDS = {"pacs": cmd_pacs}


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (``python -m app.cli.pacs_commands pacs query ...``)."""
    return run_subcommands(add_parsers, argv)


if __name__ == "__main__":
    sys.exit(main())
