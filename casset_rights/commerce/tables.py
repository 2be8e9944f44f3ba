"""Commerce tables: payments, Stripe events, Connect accounts, transfers, the ledger.

Times are epoch milliseconds. Amounts are integer minor units. ``payments.status`` moves
only forward, by conditional updates (``open`` -> ``succeeded`` | ``failed`` |
``canceled``; ``succeeded`` -> ``refunded``), so two deliveries of one event, or two
events racing, cannot both act.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from casset_rights.db.metadata import metadata

ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

payments = Table(
    "payments",
    metadata,
    Column("id", String(64), primary_key=True),  # pay_<hex>
    Column("kind", String(16), nullable=False),  # license | unlock | support
    Column("intent_id", String(128), unique=True),  # set once Stripe made the intent
    Column("quote_id", String(64), unique=True),  # a quote pays once
    Column("payer", String(200), nullable=False),  # licensee key (client:… / artist:…)
    Column("artist_id", String(64), nullable=False),  # who is paid (the licensor)
    Column("resource", String(256)),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("platform_fee", BigInteger, nullable=False),
    Column("destination", String(128), nullable=False),  # the licensor's Connect account
    # The split decided when the payment was opened (JSON list of [artist, amount]).
    Column("splits", Text, nullable=False),
    Column("message", Text),  # a fan's message with support
    Column("status", String(16), nullable=False),
    Column("holds_slot", Boolean, nullable=False),  # a cap slot is held for it
    Column("hold_expires_at_ms", BigInteger, nullable=False),
    Column("charge_id", String(128)),
    Column("grant_id", String(64)),
    Column("dispute_status", String(32)),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("settled_at_ms", BigInteger),
    Column("receipt_id", String(64)),  # the receipt of the last state change
)
Index("ix_payments_status_hold", payments.c.status, payments.c.hold_expires_at_ms)
Index("ix_payments_payer", payments.c.payer, payments.c.created_at_ms)

stripe_events = Table(
    "stripe_events",
    metadata,
    # Stored once by Stripe's id: a second delivery finds it and changes nothing.
    Column("id", String(128), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("object_id", String(128)),
    Column("created", BigInteger, nullable=False),
    Column("received_at_ms", BigInteger, nullable=False),
    Column("outcome", String(200), nullable=False),
    Column("payload", Text, nullable=False),
)

connect_accounts = Table(
    "connect_accounts",
    metadata,
    Column("artist_id", String(64), primary_key=True),
    Column("account_id", String(128), nullable=False, unique=True),
    Column("charges_enabled", Boolean, nullable=False),
    Column("payouts_enabled", Boolean, nullable=False),
    Column("details_submitted", Boolean, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

transfers = Table(
    "payment_transfers",
    metadata,
    Column("id", String(64), primary_key=True),  # xfr_<hex>
    Column("payment_id", String(64), nullable=False),
    Column("artist_id", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    # held (no payable account yet) | paid | reversed | canceled (refunded while held)
    Column("status", String(16), nullable=False),
    Column("stripe_transfer_id", String(128)),
    Column("transfer_group", String(128), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("paid_at_ms", BigInteger),
)
Index("ix_payment_transfers_artist_status", transfers.c.artist_id, transfers.c.status)
Index("ix_payment_transfers_payment", transfers.c.payment_id)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("payment_id", String(64), nullable=False),
    # One money movement (a charge, a transfer, a refund): its entries sum to zero.
    Column("movement", String(160), nullable=False),
    Column("account", String(200), nullable=False),
    Column("artist_id", String(64)),  # set on the artist's own accounts
    Column("amount", BigInteger, nullable=False),  # signed: + credit to the account
    Column("currency", String(8), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("reference", String(160)),  # Stripe's id of what moved the money
)
# A statement's balances and totals sum an artist's entries in a time range: on
# PostgreSQL the index carries what they sum, so they read the index alone.
Index("ix_ledger_artist_at", ledger_entries.c.artist_id, ledger_entries.c.at_ms,
      ledger_entries.c.id, postgresql_include=["amount", "currency", "kind"])
Index("ix_ledger_payment", ledger_entries.c.payment_id)

# Per artist, currency, kind and UTC day: the sum of the artist's entries, kept in the
# entries' own transaction (``ledger.write``). A statement sums whole days here and reads
# entries only for the partial days at its edges, so its cost does not grow with the
# artist's history.
ledger_days = Table(
    "ledger_days",
    metadata,
    Column("artist_id", String(64), nullable=False),
    Column("currency", String(8), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("day", Integer, nullable=False),  # days since 1970-01-01 (UTC)
    Column("total", BigInteger, nullable=False),
    Column("entries", BigInteger, nullable=False),
    PrimaryKeyConstraint("artist_id", "day", "currency", "kind"),
)
