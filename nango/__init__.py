"""The SDK that action functions import: `from nango import create_action, ActionError`;
and the HTTP client apps use: `from nango import Nango, NangoError`."""

from nango.action import Action, create_action
from nango.client import Nango, NangoError
from nango.errors import ActionError, ActionTriggerError

__all__ = ["Action", "ActionError", "ActionTriggerError", "Nango", "NangoError", "create_action"]
