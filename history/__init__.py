"""Transaction history as tables: CSV loading, labelled synthetic data, share statistics, and
the series live scraping of the exporter would have produced from it."""
