"""The log's side of ``tlog-witness``: send each new checkpoint to the witnesses, collect
their cosignatures, and give back the cosigned checkpoint.

``Cosigner.cosign(note, consistency_proof)`` is the one call a checkpoint maker needs:
``consistency_proof(first, second) -> hashes`` is RFC 9162 PROOF between two sizes of the
log (``TransparencyLog.consistency_proof``). For each witness it sends the size it last
saw cosigned (0 at first); a ``409`` names the witness's size, and the request is sent
once more from there. A witness that refuses or cannot be reached is logged and skipped
(one that cannot be reached is left alone for ``retry_after`` seconds): the note comes
back with the cosignatures that were had, each checked against the witness's pinned key
before it is added. The call blocks while the witnesses answer (each HTTP witness up to
its timeout): make it from a background job, never a request's path.

Witnesses are reached through the ``WitnessTransport`` protocol: ``HttpWitness`` (httpx,
keep-alive) for a witness served elsewhere, ``LocalWitness`` for the embedded witness in
this process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import msgspec

from casset_rights.errors import CassetError, InvalidInput
from casset_rights.log.checkpoint import note_text, parse_checkpoint
from casset_rights.log.cosignature import (
    CosignerKey,
    add_signature_lines,
    check_cosignature,
    parse_cosigner_key,
)
from casset_rights.log.witness import SIZE_MEDIA_TYPE, Witness, WitnessRefused, request_body

if TYPE_CHECKING:
    import httpx

    from casset_rights.config import Settings
    from casset_rights.log.checkpoint import Checkpoint
    from casset_rights.log.service import TransparencyLog

logger = logging.getLogger("casset_rights.log.witness")
ProofFetcher = Callable[[int, int], Sequence[bytes]]


class WitnessAnswer(msgspec.Struct, frozen=True):
    """An add-checkpoint answer: the status and the body's text."""

    status: int
    body: str


class WitnessTransport(Protocol):
    def add_checkpoint(self, body: bytes) -> WitnessAnswer:
        """POST ``body`` to ``<prefix>/add-checkpoint``. Raises OSError (or httpx's
        errors) when the witness cannot be reached."""
        ...


class LocalWitness:
    """The embedded witness, called in this process (the same checks as over HTTP)."""

    def __init__(self, witness: Witness) -> None:
        self.witness = witness

    def add_checkpoint(self, body: bytes) -> WitnessAnswer:
        try:
            return WitnessAnswer(200, self.witness.add_checkpoint(body))
        except WitnessRefused as exc:
            size = exc.latest_size
            return WitnessAnswer(exc.status, f"{size}\n" if size is not None else exc.detail)


class HttpWitness:
    """A witness at ``url`` (its submission prefix), over one keep-alive client."""

    def __init__(self, url: str, *, timeout: float = 3.0, http: httpx.Client | None = None) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._http = http or httpx.Client(timeout=timeout)

    def add_checkpoint(self, body: bytes) -> WitnessAnswer:
        response = self._http.post(f"{self.url}/add-checkpoint", content=body)
        return WitnessAnswer(response.status_code, response.text)

    def close(self) -> None:
        self._http.close()


class WitnessEndpoint(msgspec.Struct, frozen=True):
    """One witness in settings: its pinned key (name and key) and its transport."""

    key: CosignerKey
    transport: WitnessTransport


def parse_witnesses(text: str) -> list[tuple[CosignerKey, str]]:
    """``CASSET_WITNESSES``: entries separated by commas or newlines, each
    ``<witness verifier key> <submission URL>``. Raises InvalidInput when malformed."""
    found = []
    for entry in text.replace("\n", ",").split(","):
        if not entry.strip():
            continue
        parts = entry.split()
        if len(parts) != 2 or not parts[1].startswith(("http://", "https://")):
            raise InvalidInput(f"a witness is '<verifier key> <URL>', got {entry.strip()!r}")
        try:
            found.append((parse_cosigner_key(parts[0]), parts[1]))
        except Exception as exc:  # CheckpointInvalid: say which setting
            raise InvalidInput(f"CASSET_WITNESSES: {exc}") from None
    return found


class Cosigner:
    """Collects witness cosignatures on checkpoints (see the module)."""

    def __init__(self, witnesses: Sequence[WitnessEndpoint], *, retry_after: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.witnesses = list(witnesses)
        self._sizes: dict[str, int] = {}  # witness key -> size it last cosigned
        # A witness that could not be reached is not asked again for ``retry_after``
        # seconds, so a witness down does not hold up every checkpoint by its timeout.
        self._retry_after = retry_after
        self._unreachable: dict[str, float] = {}  # witness key -> when it failed
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def keys(self) -> list[CosignerKey]:
        return [w.key for w in self.witnesses]

    def cosign(self, checkpoint_note: str, consistency_proof: ProofFetcher) -> str:
        """The note with a cosignature line from each witness that cosigned it. Never
        raises for a witness's refusal or absence (logged); raises CheckpointInvalid when
        the note is not a checkpoint."""
        checkpoint = parse_checkpoint(checkpoint_note)
        text = note_text(checkpoint_note)
        lines: list[str] = []
        with self._lock:  # one exchange at a time: the sizes remembered stay true
            for witness in self.witnesses:
                failed_at = self._unreachable.get(witness.key.verifier_key)
                if failed_at is not None and self._clock() - failed_at < self._retry_after:
                    continue
                try:
                    body = self._ask(witness, checkpoint_note, checkpoint.tree_size,
                                     consistency_proof)
                    # Lines of other keys are ignored; a line of this key must verify.
                    lines.extend(line for line in body.splitlines()
                                 if line.startswith("\u2014 ")
                                 and check_cosignature(text, line, witness.key))
                except CassetError as exc:  # refused, or a cosignature that does not verify
                    logger.warning("witness %s refused size %d: %s", witness.key.name,
                                   checkpoint.tree_size, exc.detail)
                except Exception as exc:  # a witness down never stops the log
                    self._unreachable[witness.key.verifier_key] = self._clock()
                    logger.warning("witness %s did not cosign size %d: %s", witness.key.name,
                                   checkpoint.tree_size, exc)
        return add_signature_lines(checkpoint_note, lines) if lines else checkpoint_note

    def publisher(self, log: TransparencyLog) -> Callable[[Checkpoint], Checkpoint]:
        """What the sequencer calls with each new checkpoint of ``log``: cosign it, and
        store the cosigned note (``TransparencyLog.store_cosigned``) when any witness
        cosigned. Returns the checkpoint as published."""

        def publish(checkpoint: Checkpoint) -> Checkpoint:
            if not self.witnesses:
                return checkpoint
            note = self.cosign(checkpoint.note, lambda first, second: log.consistency_proof(
                first, second).hashes)
            return checkpoint if note == checkpoint.note else log.store_cosigned(checkpoint,
                                                                                  note)

        return publish

    def _ask(self, witness: WitnessEndpoint, note: str, size: int,
             consistency_proof: ProofFetcher) -> str:
        name = witness.key.verifier_key
        old = self._sizes.get(name, 0)
        for _ in range(2):  # once from what we know, once from what the witness says
            if old > size:
                raise WitnessRefused(409, f"the witness is at size {old}, past {size}")
            proof = consistency_proof(old, size) if 0 < old < size else ()
            answer = witness.transport.add_checkpoint(request_body(old, proof, note))
            if answer.status == 200:
                self._sizes[name] = size
                return answer.body
            if answer.status == 409 and answer.body.strip().isdigit():
                if int(answer.body) == old:  # same size, other root: a fork; no retry
                    break
                old = self._sizes[name] = int(answer.body)
                continue
            break
        raise WitnessRefused(answer.status, answer.body.strip()[:200])


def open_cosigner(settings: Settings, *, log_verifier_key: str) -> Cosigner:
    """The witnesses of ``settings``: those of ``CASSET_WITNESSES`` over HTTP and, when
    ``embedded_witness`` is on, one in this process with its own key and state in
    ``<data>/witness``, trusting ``log_verifier_key``."""
    from casset_rights.log.witness import open_witness

    endpoints = [WitnessEndpoint(key, HttpWitness(url))
                 for key, url in parse_witnesses(settings.witnesses)]
    if settings.embedded_witness:
        local = open_witness(settings.witness_dir, log_keys=[log_verifier_key])
        endpoints.insert(0, WitnessEndpoint(local.key, LocalWitness(local)))
    return Cosigner(endpoints)


__all__ = ["SIZE_MEDIA_TYPE", "Cosigner", "HttpWitness", "LocalWitness", "WitnessEndpoint",
           "open_cosigner", "parse_witnesses"]
