"""Plans and consent: runs, steps, the state machine, confirmation."""
