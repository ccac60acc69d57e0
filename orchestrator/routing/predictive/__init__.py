"""The predictive router: prompt features, corpus statistics, fitting, evaluation, metrics and its strategy."""
