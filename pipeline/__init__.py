"""The pipeline's run steps over the Store: extract, commit and report (the crawl lives in spiders/)."""
