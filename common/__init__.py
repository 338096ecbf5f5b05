"""Small utilities every layer may import (it imports nothing of the project and no TensorFlow).

Modules:
* ``paths``: package data, the shared test-material folder and the cache, resolved in one place.
* ``cli``: quiet start-up for the project's command-line programs (no TensorFlow C++ info lines).
"""
