"""Sources that stay in sync: the sources file, web pages and sitemaps, and syncing them."""
