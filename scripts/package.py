#!/usr/bin/env python3
"""Build dist/<name>-<version>.difypkg the way `dify plugin package` does.

    $PY scripts/package.py [--out dist/] [--list]      (or: bash scripts/package.sh)

What Dify's packager (langgenius/dify-plugin-daemon, pkg/plugin_packager) does, and so this does:
- walks the plugin directory, skipping what `.difyignore` excludes (falling back to `.gitignore`;
  `.git` is NOT excluded automatically); an excluded directory is not entered;
- checks the manifest and that every icon it and the provider YAMLs name is in `_assets/`; reads the
  position files (YAML lists) and every packaged file a `predefined` glob matches (YAML mappings),
  refusing a file that does not parse;
- when requirements.txt is missing but pyproject.toml and uv.lock are there, writes requirements.txt
  into the package with `uv export --frozen --format requirements.txt --no-group dev
  --no-emit-project --no-hashes --no-header --no-annotate`, and refuses the package if uv fails;
- zips every remaining file, paths sorted, `/`-separated, no directory entries;
- refuses more than 50 MiB (50 * 1024 * 1024 bytes) of uncompressed content.
Its checksum (`dify plugin checksum`, the @<checksum> of the plugin's unique identifier) is
sha256 over the sorted paths of sha256(path) + sha256(content): it does not depend on zip bytes.
On top of that it refuses what the marketplace would refuse (.git, .env, virtual environments,
caches, *.pyc), a manifest whose `version` and `meta.version` differ, and files the manifest or the
provider YAML name that the package would not contain.

The ignore file. The real packager reads it line by line (surrounding whitespace trimmed, blank and
`#` lines skipped) into go-git gitignore patterns and drops a path as soon as one pattern says
"exclude": a `!negation` never re-includes anything there, and go-git's matcher differs from git's
in a few corners (e.g. `a/**/b` in older go-git releases). This module matches every pattern with
git's semantics (wildmatch: `*`, `?`, `[...]`, `**`, `dir/`, anchored `a/b` and `/a`, `!negation`,
the last matching pattern wins, nothing below an excluded directory comes back) and also walks the
tree the packager's way (first excluding pattern wins, with current and with older go-git); when the
file lists differ it stops and names the file and the pattern, so the package is both what git's
rules say and what the real CLI builds. No third-party matcher (pathspec) is used.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MAX_SIZE_MB = 50  # `dify plugin package --max-size` default, in MiB
VERSION_RE = re.compile(r"^\d{1,4}(\.\d{1,4}){2}(-\w{1,16})?$")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed: the same tree always gives the same bytes

# What the marketplace refuses inside a package (path components / file names).
FORBIDDEN_DIRS = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache",
                  ".ruff_cache", ".tox", ".nox", ".idea", ".vscode", "node_modules"}
FORBIDDEN_FILE_GLOBS = (".env", ".env.*", "*.pyc", "*.pyo", "pyvenv.cfg", "*.difypkg", ".DS_Store")

ICON_LOCALES = ("en_US", "zh_Hans", "ja_JP", "pt_BR")


class PackageError(Exception):
    """The plugin directory cannot be packaged; the message says why and what to change."""


# --------------------------------------------------------------------------------------------
# Glob matching: one translator, three readings of a pattern.
#   git:    wildmatch with WM_PATHNAME over the whole relative path (anchored patterns) or the
#           basename (patterns without a slash); `**` only special as a whole path segment.
#   wild:   go-git >= 5.17 (a port of git's wildmatch), applied to one path segment.
#   go:     go-git before that (Go's filepath.Match), applied to one path segment.
# Bracket syntax is the only place the dialects differ (`[!x]` negates in git, not in
# filepath.Match); constructs whose meaning differs in ways not modelled here are refused.
# --------------------------------------------------------------------------------------------
class UnsupportedPattern(ValueError):
    pass


def _bracket(p: str, i: int, dialect: str) -> tuple[str, int] | None:
    """Translate the bracket expression starting at p[i] == '['; None when it is unterminated."""
    n = len(p)
    j = i + 1
    negated = False
    if j < n and (p[j] == "^" or (p[j] == "!" and dialect != "go")):
        negated = True
        j += 1
    ranges: list[tuple[str, str]] = []
    first = True
    while True:
        if j >= n:
            return None
        c = p[j]
        if c == "]" and not first:
            j += 1
            break
        if c == "]" or (c == "-" and first):
            raise UnsupportedPattern("a bracket expression starting with ']' or '-'")
        if c == "[" and j + 1 < n and p[j + 1] == ":":
            raise UnsupportedPattern("POSIX character classes like [:alpha:]")
        if c == "\\":
            j += 1
            if j >= n:
                return None
            c = p[j]
        j += 1
        if j < n and p[j] == "-":
            if j + 1 < n and p[j + 1] == "]":
                raise UnsupportedPattern("a bracket expression ending with '-'")
            j += 1
            if j >= n:
                return None
            hi = p[j]
            if hi == "\\":
                j += 1
                if j >= n:
                    return None
                hi = p[j]
            j += 1
            ranges.append((c, hi))
        else:
            ranges.append((c, c))
        first = False
    parts = [re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}" for lo, hi in ranges if lo <= hi]
    if not parts:
        return ("[^/]" if negated else "(?!)"), j
    return "(?!/)[" + ("^" if negated else "") + "".join(parts) + "]", j


def glob_regex(p: str, dialect: str = "git") -> re.Pattern:
    """Compile a gitignore glob (without its leading '/' or trailing '/') to an anchored regex."""
    out: list[str] = []
    n = len(p)
    i = 0
    while i < n:
        c = p[i]
        if c == "*":
            j = i
            while j < n and p[j] == "*":
                j += 1
            boundary = dialect == "git" and j - i >= 2 and (i == 0 or p[i - 1] == "/") and (j == n or p[j] == "/")
            if boundary and j < n:  # leading `**/` or middle `/**/`: zero or more directories
                out.append("(?:.*/)?")
                i = j + 1
            elif boundary:  # trailing `/**`: everything below
                out.append(".*")
                i = j
            else:
                out.append("[^/]*")
                i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "\\":
            if i + 1 >= n:
                return re.compile("(?!)")  # a trailing backslash matches nothing (git and Go alike)
            out.append(re.escape(p[i + 1]))
            i += 2
        elif c == "[":
            res = _bracket(p, i, dialect)
            if res is None:  # unterminated: git's wildmatch aborts, Go reports ErrBadPattern
                return re.compile("(?!)")
            out.append(res[0])
            i = res[1]
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.DOTALL)


@dataclass
class Rule:
    """One line of the ignore file."""

    line: str
    lineno: int
    negated: bool = False
    dir_only: bool = False
    anchored: bool = False  # has a slash other than a trailing one: matched against the whole path
    body: str = ""
    git: re.Pattern | None = None
    segments: list[str] = field(default_factory=list)
    seg_wild: list[re.Pattern] = field(default_factory=list)
    seg_go: list[re.Pattern] = field(default_factory=list)

    @classmethod
    def parse(cls, line: str, lineno: int) -> Rule:
        r = cls(line=line, lineno=lineno)
        p = line
        if p.startswith("!"):
            r.negated, p = True, p[1:]
        if p.endswith("\\"):
            raise UnsupportedPattern("an escaped trailing space (the packager trims it away)")
        if p.endswith("/"):
            r.dir_only, p = True, p[:-1]
        r.anchored = "/" in p
        r.body = p
        try:
            r.git = glob_regex(p[1:] if p.startswith("/") else p, "git")
            r.segments = p.split("/")
            r.seg_wild = [glob_regex(s, "wild") for s in r.segments]
            r.seg_go = [glob_regex(s, "go") for s in r.segments]
        except re.error as exc:  # pragma: no cover - the translator escapes everything it emits
            raise UnsupportedPattern(str(exc)) from exc
        return r

    # -- git ---------------------------------------------------------------------------------
    def git_match(self, parts: list[str], is_dir: bool) -> bool:
        if not self.body or (self.dir_only and not is_dir):
            return False
        text = "/".join(parts) if self.anchored else parts[-1]
        return self.git.fullmatch(text) is not None

    # -- go-git, as `dify plugin package` calls it (Match(pathParts, isDir) == Exclude) -------
    def gogit_excludes(self, parts: list[str], is_dir: bool, legacy: bool) -> bool:
        if self.negated:  # an Include result is ignored by the packager's loop
            return False
        segs = self.seg_go if legacy else self.seg_wild
        if not self.anchored:
            return self._simple(parts, is_dir, segs[0])
        return self._glob_legacy(parts, is_dir) if legacy else self._glob(parts, is_dir)

    def _simple(self, path: list[str], is_dir: bool, rx: re.Pattern) -> bool:
        for i, name in enumerate(path):
            if not rx.fullmatch(name):
                continue
            if self.dir_only and not is_dir and i == len(path) - 1:
                return False
            return True
        return False

    def _glob(self, path: list[str], is_dir: bool) -> bool:  # go-git >= 5.17
        matched = can_traverse = trailing_star = False
        for i, (seg, rx) in enumerate(zip(self.segments, self.seg_wild)):
            if seg == "":
                can_traverse = False
                continue
            if seg == "**":
                if i == len(self.segments) - 1:
                    matched = len(path) > 0 or is_dir
                    trailing_star = matched
                    break
                can_traverse = True
                continue
            if not path:
                return False
            if can_traverse:
                can_traverse = False
                while path:
                    e, path = path[0], path[1:]
                    if rx.fullmatch(e):
                        matched = True
                        break
                    if not path:
                        return False
            else:
                if not rx.fullmatch(path[0]):
                    return False
                matched = True
                path = path[1:]
                if not path and i < len(self.segments) - 1:
                    matched = False
        if matched and (not path or trailing_star):
            if self.dir_only and not is_dir:
                matched = False
        return matched

    def _glob_legacy(self, path: list[str], is_dir: bool) -> bool:  # go-git v4 .. v5.16
        matched = can_traverse = False
        for i, (seg, rx) in enumerate(zip(self.segments, self.seg_go)):
            if seg == "":
                can_traverse = False
                continue
            if seg == "**":
                if i == len(self.segments) - 1:
                    break
                can_traverse = True
                continue
            if "**" in seg:
                return False
            if not path:
                return False
            if can_traverse:
                can_traverse = False
                while path:
                    e, path = path[0], path[1:]
                    if rx.fullmatch(e):
                        matched = True
                        break
            else:
                if not rx.fullmatch(path[0]):
                    return False
                matched = True
                path = path[1:]
        if matched and self.dir_only and not is_dir and not path:
            matched = False
        return matched


class IgnoreRules:
    """The plugin's `.difyignore` (or `.gitignore`), read as the packager reads it."""

    def __init__(self, rules: list[Rule], source: str | None):
        self.rules = rules
        self.source = source

    @classmethod
    def load(cls, root: Path) -> IgnoreRules:
        for name in (".difyignore", ".gitignore"):
            f = root / name
            if f.is_file():
                return cls.parse(f.read_text(encoding="utf-8"), name)
        return cls([], None)

    @classmethod
    def parse(cls, text: str, source: str = ".difyignore") -> IgnoreRules:
        rules = []
        for lineno, raw in enumerate(text.split("\n"), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                rules.append(Rule.parse(line, lineno))
            except UnsupportedPattern as exc:
                raise PackageError(
                    f"{source}:{lineno}: {line!r} uses {exc}, which git and go-git (what `dify plugin "
                    "package` matches with) read differently; write the pattern another way") from None
        return cls(rules, source)

    def git_rule(self, parts: list[str], is_dir: bool) -> Rule | None:
        """The last rule matching the path itself (git: the last match decides)."""
        for rule in reversed(self.rules):
            if rule.git_match(parts, is_dir):
                return rule
        return None

    # -- the three engines: git, and the packager with current / older go-git ---------------
    def git_excludes(self, parts: list[str], is_dir: bool) -> bool:
        rule = self.git_rule(parts, is_dir)
        return rule is not None and not rule.negated

    def dify_rule(self, parts: list[str], is_dir: bool, legacy: bool = False) -> Rule | None:
        """The first rule with which `dify plugin package` drops the path (None: it keeps it)."""
        return next((r for r in self.rules if r.gogit_excludes(parts, is_dir, legacy)), None)

    def engines(self) -> dict[str, callable]:
        return {
            "git": self.git_excludes,
            "dify": lambda parts, is_dir: self.dify_rule(parts, is_dir, False) is not None,
            "dify-legacy": lambda parts, is_dir: self.dify_rule(parts, is_dir, True) is not None,
        }

    def excludes_path(self, parts: list[str], is_dir: bool) -> bool:
        """Whether git's rules leave this path out: it or one of its directories is excluded."""
        return any(self.git_excludes(parts[:i], True) for i in range(1, len(parts))) or self.git_excludes(parts, is_dir)

    def explain(self, rel: str) -> str:
        """Why git's rules and the packager's treat this (file) path differently."""
        parts = rel.split("/")
        levels = [(parts[:i], True) for i in range(1, len(parts))] + [(parts, False)]
        src = self.source or ".difyignore"
        git_drop = next(((p, d) for p, d in levels if self.git_excludes(p, d)), None)
        for legacy in (False, True):
            which = "`dify plugin package`" + (" (with older go-git releases)" if legacy else "")
            dify_drop = next(((p, d, self.dify_rule(p, d, legacy)) for p, d in levels if self.dify_rule(p, d, legacy)), None)
            if (git_drop is None) == (dify_drop is None):
                continue
            if dify_drop is not None:
                p, d, rule = dify_drop
                what = "it" if not d else f"its directory {'/'.join(p)}/"
                keep = next((r for r in (self.git_rule(p, d), self.git_rule(parts, False)) if r and r.negated), None)
                if keep is not None:
                    return (f"{rel}: git's rules re-include it ({src}:{keep.lineno} {keep.line!r}) but {which} never "
                            f"re-includes anything: {src}:{rule.lineno} {rule.line!r} drops {what}")
                return f"{rel}: git's rules keep it but {which} drops {what} by {src}:{rule.lineno} {rule.line!r}"
            p, d = git_drop
            rule = self.git_rule(p, d)
            what = "it" if not d else f"its directory {'/'.join(p)}/"
            return f"{rel}: git's rules drop {what} by {src}:{rule.lineno} {rule.line!r} but {which} keeps it"
        return f"{rel}: git's rules and `dify plugin package` disagree about it"


# --------------------------------------------------------------------------------------------
# Collecting the files
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackagedFile:
    path: str  # relative, '/'-separated
    source: Path | None
    size: int
    content: bytes | None = None  # a file the packager writes itself (requirements.txt)

    def read(self) -> bytes:
        return self.content if self.content is not None else self.source.read_bytes()


def walk(root: Path, excludes) -> list[tuple[str, os.DirEntry]]:
    """Non-directory entries under root, as Go's filepath.WalkDir visits them with the packager's
    callback: `excludes(parts, is_dir)` is asked for every path, an excluded directory is not entered,
    and a symlink is never entered (it is not a directory to WalkDir)."""
    found: list[tuple[str, os.DirEntry]] = []

    def visit(directory: str, prefix: list[str]) -> None:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            parts = prefix + [entry.name]
            is_dir = entry.is_dir(follow_symlinks=False)
            if excludes(parts, is_dir):
                continue
            if is_dir:
                visit(entry.path, parts)
            else:
                found.append(("/".join(parts), entry))

    visit(str(root), [])
    return found


def collect_files(root: Path, rules: IgnoreRules) -> list[PackagedFile]:
    """The files to package: what git's reading of the ignore file keeps, provided the packager's
    reading (current and older go-git) keeps exactly the same files."""
    walks = {name: walk(root, fn) for name, fn in rules.engines().items()}
    kept = {name: {rel for rel, _ in found} for name, found in walks.items()}
    differing = sorted(kept["git"] ^ kept["dify"] | kept["git"] ^ kept["dify-legacy"])
    if differing:
        shown = "\n  ".join(rules.explain(rel) for rel in differing[:5])
        more = f"\n  ... and {len(differing) - 5} more" if len(differing) > 5 else ""
        raise PackageError(f"{rules.source} means different things to git and to `dify plugin package`:\n  {shown}{more}\n"
                           "Rewrite it so both agree: list what to exclude rather than excluding broadly and "
                           "re-including with '!' (the packager ignores negations).")
    files: list[PackagedFile] = []
    for rel, entry in walks["git"]:
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            raise PackageError(f"{rel!r}: file names must be valid UTF-8") from None
        try:
            st = os.stat(entry.path)  # follows a symlink, as the packager's ReadFile does
        except FileNotFoundError:
            raise PackageError(f"{rel}: a dangling symlink; remove it or add it to {rules.source or '.difyignore'}") from None
        if stat.S_ISDIR(st.st_mode):
            raise PackageError(f"{rel}: a symlink to a directory, which `dify plugin package` cannot read; "
                               "copy the directory or ignore the link")
        if not stat.S_ISREG(st.st_mode):
            raise PackageError(f"{rel}: not a regular file")
        files.append(PackagedFile(rel, Path(entry.path), st.st_size))
    files.sort(key=lambda f: f.path)
    return files


def check_marketplace(files: list[PackagedFile], source: str | None) -> None:
    bad = []
    for f in files:
        parts = f.path.split("/")
        if any(p in FORBIDDEN_DIRS for p in parts[:-1]) or any(fnmatch.fnmatchcase(parts[-1], g) for g in FORBIDDEN_FILE_GLOBS):
            bad.append(f.path)
    if bad:
        shown = ", ".join(bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
        raise PackageError(f"the marketplace refuses packages containing {shown}: add them to "
                           f"{source or '.difyignore'} (the packager does not exclude .git or caches by itself)")


def check_size(files: list[PackagedFile], max_size: int) -> int:
    total = sum(f.size for f in files)
    if total > max_size:
        top = sorted(files, key=lambda f: f.size, reverse=True)[:5]
        listing = "\n".join(f"  {i}. {f.path}: {f.size:,} bytes" for i, f in enumerate(top, 1))
        raise PackageError(f"the plugin is {total:,} bytes uncompressed, more than the {max_size:,} bytes "
                           f"`dify plugin package` accepts. Largest files:\n{listing}")
    return total


# --------------------------------------------------------------------------------------------
# Manifest, declarations and icons
# --------------------------------------------------------------------------------------------
def _load_yaml(root: Path, rel: str, what: str) -> dict:
    try:
        data = yaml.safe_load((root / rel).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PackageError(f"{rel} ({what}) does not exist") from None
    except yaml.YAMLError as exc:
        raise PackageError(f"{rel} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PackageError(f"{rel} ({what}) must be a YAML mapping")
    return data


def read_manifest(root: Path) -> dict:
    manifest = _load_yaml(root, "manifest.yaml", "the plugin manifest")
    version = manifest.get("version")
    meta_version = (manifest.get("meta") or {}).get("version")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise PackageError(f"manifest.yaml: version {version!r} must be a string like 0.1.0 "
                           f"(pattern {VERSION_RE.pattern})")
    if version != meta_version:
        raise PackageError(f"manifest.yaml: version {version!r} and meta.version {meta_version!r} differ; "
                           "set both to the release version")
    name = manifest.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_-]{1,128}", name):
        raise PackageError(f"manifest.yaml: name {name!r} must match ^[a-z0-9_-]{{1,128}}$")
    return manifest


def _icon_refs(where: str, data: dict) -> list[tuple[str, str, str]]:
    """(where, key, file) for every icon field: icon*, and identity.icon* for tool providers."""
    refs = []
    scopes = [("", data)] + ([("identity.", data["identity"])] if isinstance(data.get("identity"), dict) else [])
    for prefix, scope in scopes:
        for key, value in scope.items():
            if not (isinstance(key, str) and key.startswith("icon")):
                continue
            if isinstance(value, str):
                refs.append((where, prefix + key, value))
            elif isinstance(value, dict):
                for locale, name in value.items():
                    if locale not in ICON_LOCALES:
                        continue
                    refs.append((where, f"{prefix}{key}.{locale}", name))
            elif value is not None:
                raise PackageError(f"{where}: {prefix}{key} must be a file name or a map of locales to file names")
    return refs


# decoder/helper.go Manifest: the position files it reads (as YAML lists of strings)
POSITION_TYPES = ("llm", "text_embedding", "rerank", "tts", "speech2text", "moderation")
# model_declaration.go ModelProviderDeclaration.UnmarshalYAML: the model types whose `predefined` globs count
MODEL_FILE_TYPES = ("llm", "text_embedding", "tts", "speech2text", "moderation", "rerank")


def _check_position_file(root: Path, rel: str) -> None:
    try:
        data = yaml.safe_load((root / rel).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PackageError(f"{rel} is not valid YAML: {exc}") from None
    if data is not None and not (isinstance(data, list) and all(isinstance(x, (str, int, float, bool)) for x in data)):
        raise PackageError(f"{rel}: a position file must be a YAML list of model names")


def _check_model_files(root: Path, decl: dict, packaged: set[str], where: str) -> None:
    """decoder/helper.go Manifest: every packaged file a `predefined` glob matches (filepath.Match),
    less *_position.yaml, is decoded as a model declaration; one that does not parse stops the packager."""
    models = decl.get("models")
    if not isinstance(models, dict):
        return
    globs = [g for t in MODEL_FILE_TYPES if isinstance(models.get(t), dict)
             for g in (models[t].get("predefined") or []) if isinstance(g, str)]
    patterns = [glob_regex(g, "go") for g in globs]
    for path in sorted(packaged):
        if path.endswith("_position.yaml") or not any(rx.fullmatch(path) for rx in patterns):
            continue
        try:
            data = yaml.safe_load((root / path).read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise PackageError(f"{path} (a model file by {where}'s predefined globs) is not valid YAML: {exc}") from None
        if data is not None and not isinstance(data, dict):
            raise PackageError(f"{path} (a model file by {where}'s predefined globs) must be a YAML mapping, "
                               f"not {type(data).__name__}")


def check_declarations(root: Path, manifest: dict, packaged: set[str]) -> list[str]:
    """Everything the manifest and provider YAMLs point at must be in the package. Returns warnings."""
    warnings: list[str] = []

    def need(rel: str, why: str) -> None:
        if not isinstance(rel, str) or not rel:
            raise PackageError(f"{why}: missing file name")
        if rel not in packaged:
            state = "is excluded by the ignore file" if (root / rel).is_file() else "does not exist"
            raise PackageError(f"{rel} ({why}) {state}; the installed plugin needs it")

    need("manifest.yaml", "the manifest")
    need("README.md", "the marketplace README")
    runner = (manifest.get("meta") or {}).get("runner") or {}
    if runner.get("language") == "python":
        need(f"{runner.get('entrypoint', 'main')}.py", "meta.runner.entrypoint")
        if "requirements.txt" not in packaged and "pyproject.toml" not in packaged:
            raise PackageError("requirements.txt is not in the package; Dify installs the plugin from it")
    if manifest.get("privacy"):
        need(manifest["privacy"], "manifest privacy")

    icon_refs = _icon_refs("manifest.yaml", manifest)
    plugins = manifest.get("plugins") or {}
    for kind, declared in plugins.items():
        for rel in declared or []:
            need(rel, f"manifest plugins.{kind}")
            decl = _load_yaml(root, rel, f"manifest plugins.{kind}")
            icon_refs += _icon_refs(rel, decl)
            python = (decl.get("extra") or {}).get("python") or {}
            if python.get("provider_source"):
                need(python["provider_source"], f"{rel} extra.python.provider_source")
            for src in python.get("model_sources") or []:
                need(src, f"{rel} extra.python.model_sources")
            if python.get("source"):  # tool / endpoint providers
                need(python["source"], f"{rel} extra.python.source")
            for model_type, spec in (decl.get("models") or {}).items():
                if not isinstance(spec, dict):
                    continue
                if spec.get("position"):
                    need(spec["position"], f"{rel} models.{model_type}.position")
                    if model_type in POSITION_TYPES:
                        _check_position_file(root, spec["position"])
                for glob in spec.get("predefined") or []:
                    rx = glob_regex(glob, "go")  # filepath.Match, as the daemon reads model files
                    if not any(rx.fullmatch(p) for p in packaged):
                        raise PackageError(f"{rel} models.{model_type}.predefined {glob!r} matches no packaged file")
            _check_model_files(root, decl, packaged, rel)
            for tool_file in decl.get("tools") or []:
                if isinstance(tool_file, str):
                    need(tool_file, f"{rel} tools")

    # Icons: each must be a file in _assets/, in the package (the daemon reads them from there).
    if not any(key == "icon" for where, key, _ in icon_refs if where == "manifest.yaml"):
        raise PackageError("manifest.yaml: icon is required")
    declared = {(where, key) for where, key, _ in icon_refs}
    for where, key, name in icon_refs:
        if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
            raise PackageError(f"{where}: {key} = {name!r} must be a file name inside _assets/")
        if f"_assets/{name}" not in packaged:
            state = "is excluded by the ignore file" if (root / "_assets" / name).is_file() else "does not exist"
            raise PackageError(f"{where}: {key} names _assets/{name}, which {state}")
        base, _, locale = key.partition(".")
        if not base.endswith("_dark") and (where, f"{base}_dark" + (f".{locale}" if locale else "")) not in declared:
            warnings.append(f"{where}: {key} has no dark variant ({base}_dark); Dify shows the light icon in dark mode")
    return warnings


# --------------------------------------------------------------------------------------------
# requirements.txt generated from uv.lock, and the checksum
# --------------------------------------------------------------------------------------------
UV_EXPORT = ["export", "--frozen", "--format", "requirements.txt", "--no-group", "dev", "--no-emit-project",
             "--no-hashes", "--no-header", "--no-annotate"]  # packager/packager.go exportRequirementsFromUv


def _find_uv() -> str | None:
    """UV_PATH, then uv on PATH (as the packager looks), then the uv of requirements-dev.txt."""
    found = os.environ.get("UV_PATH") or shutil.which("uv")
    if found:
        return found
    try:
        import uv
    except ImportError:
        return None
    return uv.find_uv_bin()


def generated_requirements(root: Path, manifest: dict, files: list[PackagedFile]) -> list[PackagedFile]:
    """packager/packager.go generatedFiles: a Python plugin with pyproject.toml and uv.lock but no
    requirements.txt on disk gets one exported from the lock; uv failing stops the packager."""
    runner = (manifest.get("meta") or {}).get("runner") or {}
    if runner.get("language") != "python" or (root / "requirements.txt").exists():
        return []
    if not (root / "pyproject.toml").exists() or not (root / "uv.lock").exists():
        return []
    if any(f.path == "requirements.txt" for f in files):
        return []
    uv = _find_uv()
    if uv is None:
        raise PackageError("requirements.txt is missing and uv, which `dify plugin package` exports it with, "
                           "is not installed: add requirements.txt or install uv")
    proc = subprocess.run([uv, *UV_EXPORT], cwd=root, capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise PackageError("requirements.txt is missing and `uv " + " ".join(UV_EXPORT) + "` (what `dify plugin "
                           f"package` runs to write it) failed: {proc.stderr.decode('utf-8', 'replace').strip()}. "
                           "Add requirements.txt to the plugin.")
    return [PackagedFile("requirements.txt", None, len(proc.stdout), proc.stdout)]


def dify_checksum(entries) -> str:
    """decoder/checksum.go CalculateChecksum over (path, content) pairs."""
    digests = {path: hashlib.sha256(data).digest() for path, data in entries}
    h = hashlib.sha256()
    for path in sorted(digests):
        h.update(hashlib.sha256(path.encode()).digest() + digests[path])
    return h.hexdigest()


def package_checksum(package: Path) -> str:
    """`dify plugin checksum <file.difypkg>`."""
    with zipfile.ZipFile(package) as zf:
        return dify_checksum((i.filename, zf.read(i)) for i in zf.infolist() if not i.is_dir())


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------
@dataclass
class BuildResult:
    path: Path
    name: str
    version: str
    files: list[PackagedFile]
    uncompressed: int
    compressed: int
    sha256: str
    checksum: str  # `dify plugin checksum`
    ignore_source: str | None
    ignore_rules: int
    warnings: list[str]


def build(root: Path = ROOT, out_dir: Path | None = None, max_size: int = MAX_SIZE_MB * 1024 * 1024) -> BuildResult:
    root = Path(root).resolve()
    out_dir = Path(out_dir).resolve() if out_dir else root / "dist"
    if not (root / "manifest.yaml").is_file():
        raise PackageError(f"{root} has no manifest.yaml: not a Dify plugin directory")
    manifest = read_manifest(root)
    rules = IgnoreRules.load(root)
    files = collect_files(root, rules)
    check_marketplace(files, rules.source)
    files = sorted(files + generated_requirements(root, manifest, files), key=lambda f: f.path)
    total = check_size(files, max_size)
    warnings = check_declarations(root, manifest, {f.path for f in files})

    name, version = manifest["name"], manifest["version"]
    target = out_dir / f"{name}-{version}.difypkg"
    try:
        rel_target = target.relative_to(root)
    except ValueError:
        rel_target = None
    if rel_target is not None and not rules.excludes_path(list(rel_target.parts), False):
        warnings.append(f"{rel_target} is inside the plugin and not ignored: the next package would contain it")

    buf = io.BytesIO()
    contents = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            data = f.read()
            contents.append((f.path, data))
            if len(data) != f.size:
                raise PackageError(f"{f.path} changed while packaging; run again")
            info = zipfile.ZipInfo(f.path, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, data)
    blob = buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:  # read back what was written
        if zf.testzip() is not None or zf.namelist() != [f.path for f in files]:
            raise PackageError("the written archive does not read back as built")

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, target)
    return BuildResult(target, name, version, files, total, len(blob), hashlib.sha256(blob).hexdigest(),
                       dify_checksum(contents), rules.source, len(rules.rules), warnings)


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def report(result: BuildResult, list_files: bool = False, out=sys.stdout) -> None:
    try:
        shown = result.path.relative_to(Path.cwd())
    except ValueError:
        shown = result.path
    print(f"wrote {shown}", file=out)
    print(f"  {result.name} {result.version}: {len(result.files)} files, {result.uncompressed:,} bytes uncompressed "
          f"({_kib(result.uncompressed)}), {result.compressed:,} bytes compressed ({_kib(result.compressed)})", file=out)
    print(f"  sha256 {result.sha256}", file=out)
    print(f"  checksum {result.checksum} (`dify plugin checksum`)", file=out)
    print(f"  ignore rules: {result.ignore_source or 'none'} ({result.ignore_rules} patterns)", file=out)
    groups: dict[str, list[PackagedFile]] = {}
    for f in result.files:
        head = f.path.split("/", 1)[0] + ("/" if "/" in f.path else "")
        groups.setdefault(head, []).append(f)
    width = max(len(k) for k in groups)
    for head, fs in groups.items():
        print(f"    {head:<{width}}  {len(fs):>3} file{'s' if len(fs) != 1 else ' '}  {sum(f.size for f in fs):>9,} bytes", file=out)
    if list_files:
        for f in result.files:
            print(f"      {f.path}  {f.size:,}", file=out)
    for w in result.warnings:
        print(f"  warning: {w}", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="output directory (default: <plugin>/dist)")
    ap.add_argument("--root", type=Path, default=ROOT, help="plugin directory (default: this repository)")
    ap.add_argument("--max-size", type=int, default=MAX_SIZE_MB, metavar="MB",
                    help=f"largest uncompressed size in MiB, like `dify plugin package --max-size` (default {MAX_SIZE_MB})")
    ap.add_argument("--list", action="store_true", help="also list every packaged file")
    args = ap.parse_args(argv)
    try:
        result = build(args.root, args.out, args.max_size * 1024 * 1024)
    except PackageError as exc:
        print(f"package: error: {exc}", file=sys.stderr)
        return 1
    report(result, args.list)
    return 0


if __name__ == "__main__":
    sys.exit(main())
