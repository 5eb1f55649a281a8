"""`python -m lib build ...`: the command line of the book runner."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import yaml

from lib.runner.cluster import BuildSweeps, add_sweep_arguments
from lib.runner.errors import RunnerError
from lib.runner.lock import add_lock_arguments, build_lock
from lib.runner.toc import filter_toc, find_root, read_toc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="stage, execute every chapter with papermill, build the HTML",
                           description="Stage the book under BUILD_DIR/stage, execute its chapters there with "
                                       "papermill (reusing unchanged ones), then build the HTML with execution "
                                       "off. The whole book lands in BUILD_DIR/html; with --chapter, a preview "
                                       "of just those chapters lands in BUILD_DIR/chapters/html.")
    build.add_argument("--profile", default="full",
                       help="'full' (each notebook's defaults) or a book/profiles/<name>.yaml, e.g. 'quick'")
    build.add_argument("--chapter", action="append", default=[], metavar="NAME",
                       help="only these chapters (repeatable); builds a preview, not the whole book")
    build.add_argument("--set", action="append", default=[], dest="sets", metavar="CHAPTER.PARAM=VALUE",
                       help="override one parameter (repeatable); VALUE is a Python literal")
    build.add_argument("--fresh", action="store_true", help="re-execute every chapter, ignoring the cache")
    build.add_argument("--root", type=Path, default=None, help="project root (default: found from the cwd)")
    build.add_argument("--build-dir", type=Path, default=None, help="default: ROOT/_build")
    build.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_sweep_arguments(build)
    add_lock_arguments(build)

    params = sub.add_parser("params", help="list each chapter's parameters and the profile's overrides")
    params.add_argument("--profile", default="full")
    params.add_argument("--root", type=Path, default=None)
    return parser


def _timing_table(runs) -> str:
    width = max([len(r.name) for r in runs] + [7])
    lines = [f"{'chapter':<{width}}  {'status':<8}  {'seconds':>8}  {'runs new':>8}  {'reused':>6}  overrides",
             f"{'-' * width}  {'-' * 8}  {'-' * 8}  {'-' * 8}  {'-' * 6}  {'-' * 9}"]
    for r in runs:
        over = ", ".join(f"{k}={v!r}" for k, v in r.parameters.items()) or "-"
        lines.append(f"{r.name:<{width}}  {r.status:<8}  {r.seconds:8.1f}  {r.runs_computed:8d}  {r.runs_reused:6d}  "
                     f"{over}")
    lines.append(f"{'total':<{width}}  {'':<8}  {sum(r.seconds for r in runs if r.status == 'executed'):8.1f}"
                 f"  {sum(r.runs_computed for r in runs):8d}  {sum(r.runs_reused for r in runs):6d}  (executed now)")
    return "\n".join(lines)


def build(args) -> int:
    from tqdm import tqdm

    from lib.runner.build import build_html, swap_into_place
    from lib.runner.checks import check_chapters
    from lib.runner.claim_readers import readers_last, records_key
    from lib.runner.execute import execute_chapter, stage
    from lib.runner.params import load_profile, parse_sets, resolve
    from lib.runner.report_page import write_report_page

    started = time.perf_counter()
    root = (args.root.resolve() if args.root else find_root())
    build_dir = (args.build_dir or root / "_build").resolve()
    pages = {p.name: p for p in read_toc(root)}
    chapters = [n for n, p in pages.items() if p.is_notebook]

    # Everything below is checked before anything executes.
    unknown = [c for c in args.chapter if c not in pages]
    if unknown:
        raise RunnerError(f"unknown chapter(s) {', '.join(unknown)}; chapters: {', '.join(chapters)}")
    selected = [c for c in chapters if not args.chapter or c in args.chapter]
    overrides = resolve(pages, load_profile(root, args.profile), parse_sets(args.sets),
                        source=f"profile {args.profile!r}")
    check_chapters(pages, selected, overrides)
    selected = readers_last(selected)       # chapters reading the claim records run after the others

    sweeps = BuildSweeps(build_dir, args.workers, args.scheduler, args.fresh)   # checks --workers, --scheduler
    # One build per build folder at a time; one sweep backend for every chapter (both released by main).
    args.resources.enter_context(build_lock(build_dir, args.wait))
    args.resources.enter_context(sweeps)
    stage_dir = build_dir / "stage"
    stage(root, stage_dir)
    claims_dir = build_dir / "claims"
    if not args.chapter and claims_dir.is_dir():      # a whole build: no records of chapters no longer in the book
        for stale in claims_dir.glob("*.json"):
            if stale.stem not in chapters:
                stale.unlink()
    # The kernels papermill starts inherit this process's environment: the chapters' claim records say
    # which profile computed them, and a closing chapter can read every record.
    os.environ["ACTIVATION_BOOK_PROFILE"] = args.profile
    os.environ["ACTIVATION_BOOK_CLAIMS"] = str(claims_dir)
    runs = []
    overall = tqdm(selected, desc="book", unit="chapter", disable=args.no_progress)
    for name in overall:
        overall.set_postfix_str(name)
        with sweeps.chapter(name):
            runs.append(execute_chapter(pages[name], overrides[name], args.profile, stage_dir,
                                        build_dir / "executed", root, args.fresh, not args.no_progress, claims_dir,
                                        extra_key=records_key(name, claims_dir), before_execute=sweeps.start))
        runs[-1].runs_computed, runs[-1].runs_reused = sweeps.counts(name)
    overall.close()
    write_report_page(stage_dir, root, pages, runs, args.profile, preview=bool(args.chapter))

    if args.chapter:  # a preview of the chosen chapters; the whole book's HTML is left alone
        keep = {p.file for p in pages.values() if not p.is_notebook or p.name in selected}
        toc = yaml.safe_load((stage_dir / "_toc.yml").read_text())
        (stage_dir / "_toc.yml").write_text(yaml.safe_dump(filter_toc(toc, keep), sort_keys=False))
        target = build_dir / "chapters" / "html"
    else:
        target = build_dir / "html"
    print("building HTML ...", file=sys.stderr)
    swap_into_place(build_html(stage_dir, strict=not args.chapter), target)

    report = {"profile": args.profile, "seconds": time.perf_counter() - started,
              "chapters": [r.__dict__ for r in runs], "html": str(target)}
    (build_dir / "report.json").write_text(json.dumps(report, indent=2, default=repr))
    print(_timing_table(runs))
    print(f"book built in {report['seconds']:.1f} s: {target / 'index.html'}")
    return 0


def params(args) -> int:
    from lib.runner.params import declared_parameters, load_profile

    root = args.root.resolve() if args.root else find_root()
    overrides = load_profile(root, args.profile)
    for page in read_toc(root):
        if not page.is_notebook:
            continue
        print(f"{page.name}:")
        for d in declared_parameters(page).values():
            over = overrides.get(page.name, {}).get(d.name)
            note = f"   [{args.profile}: {over!r}]" if over is not None else ""
            print(f"  {d.name}: {d.type_name} = {d.default}{note}" + (f"   # {d.help}" if d.help else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with contextlib.ExitStack() as args.resources:   # what a build holds: its lock, its sweep cluster
            return {"build": build, "params": params}[args.command](args)
    except RunnerError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted; the previous HTML is untouched", file=sys.stderr)
        return 130
