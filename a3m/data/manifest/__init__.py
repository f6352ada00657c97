"""Your own attributed dataset: a manifest table of images and a dataset card beside it.

A *manifest* (``manifest.csv``, or ``manifest.parquet`` where pyarrow is installed) has one row
per image: ``path`` (relative to the manifest's folder), ``split``, ``label`` (the class, or the
identity for re-id), ``camera`` (re-id only) and one ``attr:<name>`` column per attribute. A
*card* (``card.json``) beside it names the dataset, its task (:data:`a3m.data.tasks.TASKS`),
the attributes with their value sets, the input size to train at and which of the manifest's
split values is each split of the task's protocol. ``--dataset manifest:PATH`` (PATH: the
card, the manifest or their folder) names such a dataset wherever a registry name goes
(docs/your_data.md).

Modules: :mod:`~a3m.data.manifest.card` (the card), :mod:`~a3m.data.manifest.index` (reading
the manifest and the checks that need no image), :mod:`~a3m.data.manifest.dataset` (the
loader and the fingerprint), :mod:`~a3m.data.manifest.check` (``a3m data check``: the images
too), :mod:`~a3m.data.manifest.convert` (from a folder per class). Nothing is imported here,
so the registry can import the loader without a cycle.
"""
