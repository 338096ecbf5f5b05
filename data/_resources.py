"""Shared-material and cache paths for the data package: the one resolver in ``tf_ops.resources``.

``tf_ops`` imports its TensorFlow API lazily, so this costs Beam workers no TensorFlow import.
"""

from tf_ops.resources import cache_dir, shared_dir, shared_path

__all__ = ['cache_dir', 'shared_dir', 'shared_path']
