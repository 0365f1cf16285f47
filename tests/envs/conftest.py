"""Environment tests: importing sparoa_sim registers the Gymnasium ids."""

import sparoa_sim  # noqa: F401
