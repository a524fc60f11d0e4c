"""Reading the things SOPs are about: searchable lists, detail pages, summary cards."""
