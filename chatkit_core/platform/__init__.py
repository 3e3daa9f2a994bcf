"""The platform: plugin loading and registration checks, the config file, and assembly of the
runtime (:func:`chatkit_core.platform.assembly.build_runtime`) from both.

Imports :mod:`chatkit_core.chat` to build it; knows nothing of HTTP.
"""
