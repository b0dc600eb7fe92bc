"""The imaging server's authorization step: dual launch through the EHR, consent to imaging studies."""

__version__ = "0.1.0"
