"""Every table, gathered in one metadata for Alembic and the tests."""

from tillpoint.access import models as access_models
from tillpoint.clearing import models as clearing_models
from tillpoint.core import models as core_models
from tillpoint.core.db import Base
from tillpoint.ledger import models as ledger_models
from tillpoint.merchants import models as merchant_models
from tillpoint.notify import models as notify_models
from tillpoint.payments import models as payment_models
from tillpoint.risk import models as risk_models
from tillpoint.simulation import models as simulation_models
from tillpoint.store import member_models
from tillpoint.store import models as store_models
from tillpoint.store import offline_models as store_offline_models
from tillpoint.store import rollups as store_rollups
from tillpoint.terminals import models as terminal_models

metadata = Base.metadata
MODEL_MODULES = (
    core_models,
    merchant_models,
    terminal_models,
    payment_models,
    ledger_models,
    clearing_models,
    access_models,
    notify_models,
    risk_models,
    simulation_models,
    store_models,
    store_rollups,
    member_models,
    store_offline_models,
)
