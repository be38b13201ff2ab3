"""insurereco: which insurance product to offer to which customer, how sure we are,
and whether a campaign will pay.

Modules, one per stage: :mod:`~insurereco.data` and :mod:`~insurereco.contract`
(load and validate), :mod:`~insurereco.synthetic` (demo portfolio),
:mod:`~insurereco.portfolio` (descriptive analysis), then the modelling, calibration,
explanation, campaign, segmentation and propensity modules, and
:mod:`~insurereco.reporting` (metrics files, banners, atomic writes).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
