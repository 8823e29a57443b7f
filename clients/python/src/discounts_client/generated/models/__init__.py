"""Contains all the data models used in inputs/outputs"""

from .allocation import Allocation
from .applied_code import AppliedCode
from .attempt_out import AttemptOut
from .batch_in import BatchIn
from .batch_out import BatchOut
from .batch_out_kind import BatchOutKind
from .batch_out_status import BatchOutStatus
from .brand_in import BrandIn
from .brand_out import BrandOut
from .bulk_result import BulkResult
from .bulk_user_in import BulkUserIn
from .cart_in import CartIn
from .cart_item import CartItem
from .cart_quote_out import CartQuoteOut
from .cart_redemption_in import CartRedemptionIn
from .cart_redemption_out import CartRedemptionOut
from .cart_redemption_out_status import CartRedemptionOutStatus
from .code_in import CodeIn
from .code_out import CodeOut
from .code_stats import CodeStats
from .code_stats_state import CodeStatsState
from .code_view import CodeView
from .currency_totals import CurrencyTotals
from .endpoint_in import EndpointIn
from .endpoint_in_events_type_0_item import EndpointInEventsType0Item
from .endpoint_out import EndpointOut
from .endpoint_patch import EndpointPatch
from .endpoint_patch_events_type_0_item import EndpointPatchEventsType0Item
from .endpoint_with_secret import EndpointWithSecret
from .fanout_progress import FanoutProgress
from .fanout_progress_status import FanoutProgressStatus
from .field_error import FieldError
from .healthz_response_healthz_healthz_get import HealthzResponseHealthzHealthzGet
from .import_in import ImportIn
from .line_total import LineTotal
from .problem import Problem
from .progress import Progress
from .progress_status import ProgressStatus
from .quote_out import QuoteOut
from .redeemed_code import RedeemedCode
from .redemption_in import RedemptionIn
from .redemption_out import RedemptionOut
from .redemption_out_status import RedemptionOutStatus
from .rejected_code import RejectedCode
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
    "Allocation",
    "AppliedCode",
    "AttemptOut",
    "BatchIn",
    "BatchOut",
    "BatchOutKind",
    "BatchOutStatus",
    "BrandIn",
    "BrandOut",
    "BulkResult",
    "BulkUserIn",
    "CartIn",
    "CartItem",
    "CartQuoteOut",
    "CartRedemptionIn",
    "CartRedemptionOut",
    "CartRedemptionOutStatus",
    "CodeIn",
    "CodeOut",
    "CodeStats",
    "CodeStatsState",
    "CodeView",
    "CurrencyTotals",
    "EndpointIn",
    "EndpointInEventsType0Item",
    "EndpointOut",
    "EndpointPatch",
    "EndpointPatchEventsType0Item",
    "EndpointWithSecret",
    "FanoutProgress",
    "FanoutProgressStatus",
    "FieldError",
    "HealthzResponseHealthzHealthzGet",
    "ImportIn",
    "LineTotal",
    "Problem",
    "Progress",
    "ProgressStatus",
    "QuoteOut",
    "RedeemedCode",
    "RedemptionIn",
    "RedemptionOut",
    "RedemptionOutStatus",
    "RejectedCode",
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
