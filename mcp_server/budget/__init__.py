"""What the paid APIs cost: reports from api_cost_log and alerts against the monthly budget."""
