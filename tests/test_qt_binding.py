"""The Qt binding and pyqtgraph work together offscreen.

PySide6-Essentials 6.12.0 with pyqtgraph 0.14.0 crashes the interpreter ("deallocating None")
on the first ``PlotDataItem.setData`` offscreen; 6.11.3 works. The check runs in a subprocess so
such a crash fails this test instead of killing pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import pyqtgraph as pg
    from pyqtgraph.Qt import QtWidgets
    import PySide6

    app = pg.mkQApp()
    widget = pg.PlotWidget()
    widget.resize(400, 300)
    widget.show()
    curve = widget.plot(pen="w")
    x = np.arange(1000, dtype=float)
    for i in range(20):  # the crash came on the first setData; a few more for good measure
        curve.setData(x, np.sin(x / 50.0 + i), skipFiniteCheck=True)
        app.processEvents()
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    curve.setData(x, np.cos(x / 30.0))
    image = pg.ImageItem(np.random.default_rng(0).random((50, 40)))
    widget.addItem(image)
    app.processEvents()
    shot = widget.grab()
    assert shot.width() == 400 and shot.height() == 300, (shot.width(), shot.height())
    print("QT-BINDING-OK", PySide6.__version__, pg.__version__, flush=True)
    """
)


def test_pyqtgraph_setdata_does_not_crash_offscreen():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0 and "QT-BINDING-OK" in out.stdout, (
        "pyqtgraph crashed or failed in PlotDataItem.setData offscreen (exit code "
        f"{out.returncode}). Known bad pair: PySide6-Essentials 6.12.0 + pyqtgraph 0.14.0; "
        "6.11.3 works.\nstdout:\n" + out.stdout[-2000:] + "\nstderr:\n" + out.stderr[-2000:]
    )


def test_installed_pair_is_not_the_known_crashing_one():
    import pyqtgraph
    import PySide6

    assert not (PySide6.__version__ == "6.12.0" and pyqtgraph.__version__ == "0.14.0"), (
        "PySide6 6.12.0 with pyqtgraph 0.14.0 crashes in PlotDataItem.setData; pin PySide6-Essentials<6.12"
    )
