"""Who may read, operate (confirm plans) and administer."""
