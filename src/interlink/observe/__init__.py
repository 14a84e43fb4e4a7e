"""What the platform reports of itself: metrics, merged across processes, and shadow comparisons."""
