"""Model manifests: every file of a model stack with its licence, size, SHA-256 and source.

The manifests are data (`pipeline/manifests/<stack>.json`); paths are relative to the stack's
weights folder. Where a manifest cannot pin a SHA-256 (files never seen here: no hub access),
`weights fetch` records the hash of what it downloaded from the pinned revision in that folder's
`weights-lock.json`, and `verify` checks against it. A hash in the manifest always wins.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

LOCK_NAME = "weights-lock.json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelFile:
    """One manifest entry: a file, or (source kind `huggingface_snapshot`) a folder."""

    path: str
    component: str  # "face" or "generator": what a worker loads
    licence: str  # SPDX id, or "non-commercial"
    commercial_use: bool
    size: int | None
    sha256: str | None
    source: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    @property
    def is_folder(self) -> bool:
        return self.source.get("kind") == "huggingface_snapshot"


@dataclass(frozen=True)
class StackManifest:
    stack: str
    description: str
    files: tuple[ModelFile, ...]

    def non_commercial(self) -> list[ModelFile]:
        """The files a paid service may not run without a licence of its own."""
        return [f for f in self.files if not f.commercial_use]

    def component(self, *names: str) -> list[ModelFile]:
        return [f for f in self.files if not names or f.component in names]


def manifest_path(stack: str) -> Path:
    """Where a stack's manifest lies (a data file inside this package)."""
    return Path(str(resources.files("pipeline") / "manifests" / f"{stack}.json"))


def load_manifest(stack: str) -> StackManifest:
    path = manifest_path(stack)
    if not path.is_file():
        raise ValueError(f"no model manifest for stack {stack!r} ({path})")
    data = json.loads(path.read_text(encoding="utf-8"))
    files = tuple(ModelFile(**entry) for entry in data["files"])
    return StackManifest(data["stack"], data.get("description", ""), files)


class WeightsMismatch(Exception):
    """The weights folder does not match the manifest; `problems` names every file at fault."""

    def __init__(self, stack: str, folder: Path, problems: list[str]) -> None:
        lines = "\n  ".join(problems)
        super().__init__(
            f"the {stack} weights in {folder} do not match pipeline/manifests/{stack}.json:\n"
            f"  {lines}\n"
            f"Fetch them again: python -m pipeline weights fetch --stack {stack} --dest {folder}"
        )
        self.problems = problems


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_lock(folder: Path) -> dict[str, dict[str, Any]]:
    """`weights-lock.json`'s files (path -> sha256, size, revision); empty when there is none."""
    path = folder / LOCK_NAME
    if not path.is_file():
        return {}
    files: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["files"]
    return files


def write_lock(folder: Path, stack: str, files: dict[str, dict[str, Any]]) -> None:
    merged = read_lock(folder) | files
    body = {"stack": stack, "files": dict(sorted(merged.items()))}
    (folder / LOCK_NAME).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def _check_file(folder: Path, rel: str, size: int | None, sha256: str | None) -> str | None:
    path = folder / rel
    if not path.is_file():
        return f"missing: {rel}"
    if sha256 is None:
        return f"no SHA-256 pinned for {rel} (neither the manifest nor {LOCK_NAME} has one)"
    if size is not None and path.stat().st_size != size:
        return f"altered: {rel} is {path.stat().st_size} bytes, the manifest says {size}"
    actual = sha256_of(path)
    if actual != sha256:
        return f"altered: {rel} has SHA-256 {actual}, expected {sha256}"
    return None


def check_weights(
    manifest: StackManifest, folder: Path, components: tuple[str, ...] = ()
) -> list[str]:
    """Every problem with the folder's files (missing, altered, unpinned); empty when all match."""
    folder = Path(folder)
    lock = read_lock(folder)
    problems: list[str] = []
    for entry in manifest.component(*components):
        if entry.is_folder:
            members = {p: v for p, v in lock.items() if p.startswith(entry.path.rstrip("/") + "/")}
            if not members:
                problems.append(f"no SHA-256 recorded for {entry.path}/ (no {LOCK_NAME} entry)")
            for rel, info in sorted(members.items()):
                found = _check_file(folder, rel, info.get("size"), info.get("sha256"))
                if found:
                    problems.append(found)
            continue
        pinned = lock.get(entry.path, {})
        sha = entry.sha256 or pinned.get("sha256")
        size = entry.size if entry.size is not None else pinned.get("size")
        found = _check_file(folder, entry.path, size, sha)
        if found:
            problems.append(found)
    return problems


def verify_weights(manifest: StackManifest, folder: Path, components: tuple[str, ...] = ()) -> None:
    """Raise `WeightsMismatch` unless every file of `components` (all: empty) matches."""
    problems = check_weights(manifest, folder, components)
    if problems:
        raise WeightsMismatch(manifest.stack, Path(folder), problems)
