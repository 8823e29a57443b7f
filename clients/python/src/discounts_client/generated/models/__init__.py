"""Contains all the data models used in inputs/outputs"""

from .batch_in import BatchIn
from .batch_out import BatchOut
from .batch_out_kind import BatchOutKind
from .batch_out_status import BatchOutStatus
from .brand_in import BrandIn
from .brand_out import BrandOut
from .bulk_result import BulkResult
from .bulk_user_in import BulkUserIn
from .cart_item import CartItem
from .code_in import CodeIn
from .code_out import CodeOut
from .code_stats import CodeStats
from .code_stats_state import CodeStatsState
from .code_view import CodeView
from .currency_totals import CurrencyTotals
from .fanout_progress import FanoutProgress
from .fanout_progress_status import FanoutProgressStatus
from .field_error import FieldError
from .healthz_response_healthz_healthz_get import HealthzResponseHealthzHealthzGet
from .import_in import ImportIn
from .problem import Problem
from .progress import Progress
from .progress_status import ProgressStatus
from .quote_out import QuoteOut
from .redemption_in import RedemptionIn
from .redemption_out import RedemptionOut
from .redemption_out_status import RedemptionOutStatus
from .rule_in import RuleIn
from .rule_out import RuleOut
from .sign_in_link_in import SignInLinkIn
from .sign_in_link_out import SignInLinkOut
from .usage_page import UsagePage
from .usage_row import UsageRow
from .usage_row_status import UsageRowStatus
from .user_in import UserIn
from .user_out import UserOut
from .uses_in import UsesIn

__all__ = (
    "BatchIn",
    "BatchOut",
    "BatchOutKind",
    "BatchOutStatus",
    "BrandIn",
    "BrandOut",
    "BulkResult",
    "BulkUserIn",
    "CartItem",
    "CodeIn",
    "CodeOut",
    "CodeStats",
    "CodeStatsState",
    "CodeView",
    "CurrencyTotals",
    "FanoutProgress",
    "FanoutProgressStatus",
    "FieldError",
    "HealthzResponseHealthzHealthzGet",
    "ImportIn",
    "Problem",
    "Progress",
    "ProgressStatus",
    "QuoteOut",
    "RedemptionIn",
    "RedemptionOut",
    "RedemptionOutStatus",
    "RuleIn",
    "RuleOut",
    "SignInLinkIn",
    "SignInLinkOut",
    "UsagePage",
    "UsageRow",
    "UsageRowStatus",
    "UserIn",
    "UserOut",
    "UsesIn",
)
