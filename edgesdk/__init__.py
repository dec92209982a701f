"""edgesdk: tiny, fast, verified BERT-class text classifiers for phones and MCUs."""

__version__ = "0.1.0"
