"""`make bench`: fraud-alerts against the local stand-ins, side by side with the naive loop.

Everything runs offline. AWS's latencies are injected where AWS has them (the Data API's
statement time, SES's call time and its rate quota); every figure is reported next to the
naive loop's, measured in the same run on the same machine. `python -m bench --help`.
"""
