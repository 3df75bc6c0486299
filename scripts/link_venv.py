"""Make the repository root and the generated protobuf code importable from the venv.

Writes a .pth file into the venv's site-packages, so `python -m services.policy`, pytest and
the tools all see the same import roots without installing the project as a package.
"""

import pathlib
import site

root = pathlib.Path(__file__).resolve().parent.parent
pth = pathlib.Path(site.getsitepackages()[0]) / "elevins.pth"
pth.write_text(f"{root}\n{root / 'build' / 'gen'}\n")
