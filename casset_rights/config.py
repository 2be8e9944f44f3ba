"""Settings: one frozen object, built from ``CASSET_*`` variables by one function.

No other module reads the environment. ``settings_from_env`` is called once by the CLI
(or the ASGI factory) and the result is passed to ``create_app`` and the services.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

from casset_rights.errors import InvalidInput
from casset_rights.limits import InputLimits

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ChainKind = Literal["embedded", "base", "base-sepolia", "none"]


class RateLimit(msgspec.Struct, frozen=True):
    """A token bucket: ``capacity`` requests, refilled at ``per_minute`` a minute."""

    capacity: int
    per_minute: int


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str = ""
    # A request waits at most this long for a free connection of the database's pool,
    # then is a 503 ``database_busy`` (PostgreSQL: 10 pooled and 20 more on demand).
    database_pool_timeout_seconds: float = 10.0
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    issuer: str = ""
    service_name: str = "Casset Rights"
    # Examples loaded at start-up (the embedded demo) when ``load_examples`` is set.
    load_examples: bool = False
    catalog_dir: str = str(PROJECT_ROOT / "examples" / "catalog")
    policies_dir: str = str(PROJECT_ROOT / "policies")
    # Input limits (docs/limits.md): a request body, and a policy or manifest file. Nesting
    # counts arrays and objects; integers are 64-bit everywhere, whatever these say.
    max_body_bytes: int = 256 * 1024
    max_body_depth: int = 32
    max_document_bytes: int = 512 * 1024
    max_document_depth: int = 64
    # Receipts of decisions are stored in groups by a writer thread: one commit serves
    # every receipt that arrived while the previous one ran, at most
    # ``receipt_batch_max``, waiting ``receipt_batch_wait_ms`` after the first.
    receipt_batch_max: int = 256
    receipt_batch_wait_ms: float = 2.0
    # An answer waits at most this long for its receipt's commit, then is a 503
    # ``receipt_not_stored`` (the database slow or unreachable); while a group has been
    # writing for longer, new answers are refused at once instead of queueing.
    receipt_wait_seconds: float = 5.0
    # Transparency log: the sequencer integrates queued entries in batches of at most
    # ``sequencer_batch_max``, looking again every ``sequencer_idle_seconds`` when the
    # queue is empty; it checkpoints when the log grew, every N appends or T seconds.
    log_origin: str = "casset.example/rights-log"
    sequencer_batch_max: int = 5000
    sequencer_idle_seconds: float = 0.1
    checkpoint_every_appends: int = 1000
    checkpoint_every_seconds: float = 1.0
    # Background jobs: empty runs them inside the server (the embedded default); a
    # redis:// or postgresql:// URL puts them on a SAQ queue for ``casset-rights worker``.
    queue_url: str = ""
    queue_name: str = "casset"
    # Witnesses (C2SP tlog-witness) that cosign each checkpoint: entries separated by
    # commas, each '<witness verifier key> <submission URL>'. The embedded witness runs in
    # this process with its own key and state in <data>/witness.
    witnesses: str = ""
    embedded_witness: bool = True
    # Anchoring.
    chain: ChainKind = "embedded"
    chain_rpc_url: str | None = None
    chain_key_file: Path | None = None
    chain_contract_address: str | None = None
    anchor_every_seconds: float = 60.0
    # OAuth.
    access_token_ttl_seconds: int = 900
    token_leeway_seconds: int = 30
    # ``aud`` of access tokens; empty means ``{issuer}/v1`` (the API, not the issuer).
    token_audience: str = ""
    authorization_code_ttl_seconds: int = 300
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # A private_key_jwt assertion may live at most this long, so its jti need only be
    # remembered that long (plus the leeway) to refuse every replay.
    client_assertion_max_age_seconds: int = 300
    # How soon a revocation made by another process reaches this one's revoked set.
    revocation_refresh_seconds: float = 1.0
    # Dynamic client registration (RFC 7591) for agents, limited per address.
    registration_enabled: bool = True
    registration_burst: int = 10
    registration_per_minute: int = 2
    redis_key_prefix: str = "casset:"
    # Rate limits by principal kind.
    rate_limits: dict[str, RateLimit] = msgspec.field(
        default_factory=lambda: {
            "public": RateLimit(capacity=120, per_minute=600),
            "agent": RateLimit(capacity=60, per_minute=300),
            "partner": RateLimit(capacity=600, per_minute=6000),
            "artist": RateLimit(capacity=300, per_minute=3000),
        }
    )
    rate_limits_enabled: bool = True
    # Licenses: how long a quote stays good.
    license_quote_ttl_seconds: int = 900
    # Idempotency keys (docs/licenses-and-lineage.md) are kept at least this long; a sweep
    # every ``idempotency_sweep_seconds`` deletes older ones, after which a retry under
    # the same key is a new request.
    idempotency_key_retention_seconds: int = 24 * 3600
    idempotency_sweep_seconds: float = 600.0
    # Payments: absent keys mean paid routes answer that payments are not configured.
    # ``stripe_api_base`` points the SDK at another server (a local one in tests).
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    # The platform's fee on every payment, in basis points (1000 = 10 %).
    platform_fee_bps: int = 1000
    # How long a payment holds its cap slot before its intent is canceled.
    payment_hold_seconds: int = 1800
    # -- Audio (casset_rights.audio): uploads, analysis, previews, C2PA -----------------
    # Blobs (audio, rendered previews): a folder (``blob_dir``, default data/blobs) or an
    # S3-compatible bucket.
    blob_store: Literal["local", "s3"] = "local"
    blob_dir: Path | None = None
    s3_bucket: str = "casset-audio"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_prefix: str = ""
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    audio_max_upload_bytes: int = 200 * 1024 * 1024
    # Previews: the hook window only, at most this long, faded, loudness-normalised.
    preview_max_seconds: float = 30.0
    preview_target_lufs: float = -14.0
    preview_fade_ms: int = 400
    preview_loop_crossfade_ms: int = 0  # > 0: a seamless loop (the end crossfades the start)
    preview_format: Literal["m4a", "mp3"] = "m4a"
    preview_bitrate: int = 128_000
    preview_url_ttl_seconds: int = 900
    # HMAC key of preview URLs; empty: generated on first start in data/keys.
    preview_url_secret: str = ""
    # C2PA: the signing certificate chain (leaf first, PEM) and its key; unset: a local CA
    # and leaf made on first start in data/c2pa.
    c2pa_cert_chain_file: Path | None = None
    c2pa_key_file: Path | None = None
    c2pa_trust_anchor_file: Path | None = None
    # Analysis runs in worker processes of the audio service, warmed at start
    # (librosa's numba compilation), with numba's cache in this folder (default
    # data/cache/numba). 0 workers: analysis runs only when asked (CLI, job queue).
    audio_analysis_workers: int = 1
    numba_cache_dir: Path | None = None
    # -- end of audio -------------------------------------------------------------

    @property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def resolved_numba_cache_dir(self) -> Path:
        return self.numba_cache_dir or self.data_dir / "cache" / "numba"
    # x402 (agents pay paid routes in USDC; casset_rights/agents/x402pay.py): by default
    # the embedded chain's test dollar and a demo wallet funded on it; with a network
    # (eip155:8453 Base, eip155:84532 Base Sepolia), its JSON-RPC URL and the key that
    # sends settlements, real USDC (CASSET_X402_ASSET overrides its address).
    x402_enabled: bool = True
    x402_network: str | None = None
    x402_rpc_url: str | None = None
    x402_key_file: Path | None = None
    x402_asset: str | None = None
    x402_pay_to: str | None = None
    # Artists' own payout addresses (artist id -> EIP-55 address): their paid routes are
    # paid to them, the others to x402_pay_to. CASSET_X402_ARTIST_PAY_TO takes
    # ``artist=0xAddress,artist2=0xAddress``.
    x402_artist_pay_to: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def body_limits(self) -> InputLimits:
        return InputLimits(max_bytes=self.max_body_bytes, max_depth=self.max_body_depth)

    @property
    def document_limits(self) -> InputLimits:
        return InputLimits(max_bytes=self.max_document_bytes,
                           max_depth=self.max_document_depth)

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def log_dir(self) -> Path:
        """The log's own key (its identity), apart from the receipt keys."""
        return self.data_dir / "log"

    @property
    def witness_dir(self) -> Path:
        return self.data_dir / "witness"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'casset.db'}"

    @property
    def resolved_issuer(self) -> str:
        return (self.issuer or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_token_audience(self) -> str:
        return self.token_audience or f"{self.resolved_issuer}/v1"


def data_dir_choice(environ: Mapping[str, str], *, cwd: Path,
                    platform: str = sys.platform) -> tuple[Path, str]:
    """The data folder and why it was chosen, in this order:

    1. ``CASSET_DATA_DIR``, when set;
    2. the checkout's ``data`` folder, when run from inside the project's checkout (the
       folder holding this package and its ``pyproject.toml``);
    3. the user's data folder: ``$XDG_DATA_HOME/casset-rights`` (else
       ``~/.local/share/casset-rights``), ``~/Library/Application Support/casset-rights``
       on macOS, ``%LOCALAPPDATA%\\casset-rights`` on Windows.

    So a command run from any other folder never makes a ``./data`` there.
    """
    if environ.get("CASSET_DATA_DIR"):
        return Path(environ["CASSET_DATA_DIR"]), "CASSET_DATA_DIR"
    checkout = PROJECT_ROOT
    if (checkout / "pyproject.toml").is_file() and cwd.resolve().is_relative_to(checkout):
        return checkout / "data", "the project's checkout"
    home = Path(environ.get("HOME") or Path.home())
    if platform == "win32":
        base = Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "casset-rights", "the user data folder"


def settings_from_env(environ: Mapping[str, str], **overrides: object) -> Settings:
    """Build ``Settings`` from ``CASSET_*`` variables; ``overrides`` win over both.

    The data folder, unless given, is ``data_dir_choice`` from the current folder.
    Raises InvalidInput naming the variable when a value has the wrong type.
    ``CASSET_RATE_LIMIT_<KIND>`` takes ``capacity/per_minute`` (e.g. ``60/300``).
    """
    fields: dict[str, object] = {"data_dir": data_dir_choice(environ, cwd=Path.cwd())[0]}
    for name in Settings.__struct_fields__:
        var = f"CASSET_{name.upper()}"
        if var in environ and name not in ("rate_limits", "x402_artist_pay_to"):
            fields[name] = environ[var]
    limits = dict(Settings().rate_limits)
    for kind in ("public", "agent", "partner", "artist"):
        raw = environ.get(f"CASSET_RATE_LIMIT_{kind.upper()}")
        if raw:
            try:
                capacity, per_minute = (int(x) for x in raw.split("/"))
            except ValueError:
                raise InvalidInput(
                    f"CASSET_RATE_LIMIT_{kind.upper()} must be capacity/per_minute, got {raw!r}"
                ) from None
            limits[kind] = RateLimit(capacity=capacity, per_minute=per_minute)
    fields["rate_limits"] = limits
    payouts = environ.get("CASSET_X402_ARTIST_PAY_TO")
    if payouts is not None:
        fields["x402_artist_pay_to"] = _pairs(payouts, "CASSET_X402_ARTIST_PAY_TO")
    fields.update(overrides)
    try:
        return msgspec.convert(fields, Settings, strict=False, dec_hook=_decode)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid settings: {exc}") from None


def _pairs(raw: str, var: str) -> dict[str, str]:
    """``a=x,b=y`` as a dict. Raises InvalidInput naming ``var``."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput(f"{var} must be key=value pairs separated by commas, "
                               f"got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _decode(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str | Path):
        return Path(value)
    raise NotImplementedError
