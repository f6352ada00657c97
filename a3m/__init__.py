"""a3m: the Attribute-Aware Attention Model (Han et al., ACM MM 2018) and its studies."""

__version__ = "0.1.0"
