"""Model providers: embeddings and chat models, with retries and cost logging."""
