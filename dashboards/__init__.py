"""Dashboards: a study's MLflow runs -> pandas -> Plotly figures of the paper, an HTML report.

The layers point one way, like the rest of the project:

    data.py      MLflow experiment (any tracking URI) -> DataFrame; attention PNGs; Optuna study
    selection.py what a figure shows when the study ran more (Fig. 6's run, Fig. 8's
                 configurations), chosen by the reference or val_score, never the test split
    figures.py   the paper's comparison figures (Figs. 5, 7, 8), DataFrame -> Figure
    figures_attention.py  Fig. 6's attention maps and the training diagnostics per epoch
    figures_search.py     an open (Optuna) search's plots
    figure_text.py        what the figures share: notes, wrapped text, empty figures
    tables.py    the paper's Tables 1-5 (``paper_numbers.csv``) beside our runs
    families.py  the Holm family each claim's comparison is in: the study's, or the secondary
    claims.py    the paper's claims (``paper_claims.csv``): supported, contradicted or
                 inconclusive on our runs, seed against seed, with a magnitude check
    conclusions.py how to read a verdict, the claims' and the paired comparisons' sections
    sections.py  the report's table of sections: each, when it applies and how it is drawn
    report.py    which sections apply (the conclusions first); one self-contained HTML file
                 and the CSVs beside it
    export.py    a PNG per figure (kaleido driving the system's headless Chromium)
    build.py     ``python dashboards/build.py --experiment NAME`` and the after-study hook

Every figure and table function takes a DataFrame in ``mlflow.search_runs`` layout
(``params.*``, ``metrics.*``, ``tags.*``, ``status``, ``run_id``), so it is tested on a
hand-made frame without MLflow. Our metrics are fractions in [0, 1]; figures and tables show
percent, the paper's unit; the leaderboard CSV keeps the fractions.
"""

from __future__ import annotations
