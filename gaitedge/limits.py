"""Resource bounds on what the data layer reads, decodes and builds from one input file.

Each bound is checked before the work it bounds is done, so that a small hostile file cannot make a run read,
decode or allocate without limit; a file over a bound is refused with an error naming it. The defaults are far
above anything a gait dataset holds (CASIA-B frames are 320×240, 64×64 after pretreatment), and ``gaitedge
pretreat`` has an option for each. docs/data.md lists them with the ops' own bounds (``gaitedge.ops._checks``).

This module imports nothing from gaitedge, so that every layer can read its constants.
"""

from __future__ import annotations

__all__ = ["MAX_FILE_BYTES", "MAX_DECODED_BYTES", "MAX_RESAMPLE_ELEMENTS", "MAX_IMG_SIZE", "MAX_WORKERS"]

# Bytes read from one PNG file. Read in one piece, so this is also the buffer a file can make us allocate; a FIFO
# or a device is refused before any read. 64 MiB is a thousand times a CASIA-B frame.
MAX_FILE_BYTES = 64 * 2**20

# Bytes a PNG may decode to (width × height × channels × bytes per sample, from its header, before decoding).
# Holds a 4096×4096 RGBA frame at 8 bits, or a 3840×2160 RGBA frame at 16 bits per sample.
MAX_DECODED_BYTES = 4096 * 4096 * 4

# Elements of the largest array that resizing one frame builds: the resized frame (height × width), and in the
# antialiased mode each resample weight matrix (output length × input length). A 1×5000 frame resized to height
# 64 is 64 × 320,000 = 20 million elements: over this bound, which a normal frame misses by a factor of 500.
MAX_RESAMPLE_ELEMENTS = 2**24

# Largest pretreatment output side (``-r``); each kept frame is written as ``r × r`` bytes.
MAX_IMG_SIZE = 1024

# Most pretreatment worker processes.
MAX_WORKERS = 256
