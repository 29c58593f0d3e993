"""What a run leaves behind, above the claims and below the engines: the output-path registry and
atomic writes (:mod:`~dlnkit.records.outputs`), run records (:mod:`~dlnkit.records.run_record`),
verdict tables (:mod:`~dlnkit.records.report`), the HTML report and its plots
(:mod:`~dlnkit.records.report_html`, :mod:`~dlnkit.records.report_plots`,
:mod:`~dlnkit.records.spectral_plots`).
"""
