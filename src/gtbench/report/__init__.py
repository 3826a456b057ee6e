"""Turn result documents (the JSON contract) into terminal output, Markdown and figures.

Rendering works from the document, not the live objects, so a saved result
renders exactly as the live run did (``gtbench report``).
"""

from __future__ import annotations

FORMAT_VERSION = 1
