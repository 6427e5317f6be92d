"""Generative models for staging: EdgeConnect (copy-paste staging) and pix2pix (vanilla staging).

Modules are deliberately import-light: the nightly inference path (``edges``, ``masks``,
``inference``, ``registry``) never imports torch; networks, losses, training and export do.
"""
