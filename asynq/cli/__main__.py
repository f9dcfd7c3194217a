"""``python -m asynq.cli``: the same program as the ``asynq`` and ``asynqmon`` commands."""

import sys

from asynq.cli import main

sys.exit(main())
