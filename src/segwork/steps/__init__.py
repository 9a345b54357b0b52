"""The computation of each notebook, as plain typed functions a test can call without papermill.

One module per notebook (``data_collection``, ``rfm_clv``, ``personas``, ``campaign_ab``,
``rule_segments``). A step takes data (validated tables, earlier datasets) and parameters and
returns a small result object whose ``outputs()`` maps catalog dataset names
(:mod:`segwork.catalog`) to what the run saves. Steps read and write no files: the notebook
passes the result to ``ctx.save``.
"""
