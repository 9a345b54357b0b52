"""Headlines and page text: every sentence a report says, in one place.

One module per report (``data_collection``, ``rfm_clv``, ``personas``, ``campaign_ab``,
``rule_segments``). Functions take a step's result and return text (or show a section with
:mod:`segwork.display`); the wording comes from the data and the config, never from the demo.
"""
