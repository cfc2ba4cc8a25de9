"""What photosort costs per month on AWS (``photosort cost``).

* :mod:`~photosort_local.cost.prices`: dated list prices from ``prices.json``;
* :mod:`~photosort_local.cost.model`: the per-photo resource model and the monthly estimate;
* :mod:`~photosort_local.cost.report`: the tables and the plot.
"""
