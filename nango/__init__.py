"""The SDK that action functions import: `from nango import create_action, ActionError`."""

from nango.action import Action, create_action
from nango.errors import ActionError

__all__ = ["Action", "ActionError", "create_action"]
