"""`python -m nango ...` is the `nango` command."""

from nango.cli import main

raise SystemExit(main())
