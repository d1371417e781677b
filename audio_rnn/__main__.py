"""`python -m audio_rnn` entry point."""

import sys

from audio_rnn.cli import main

sys.exit(main())
