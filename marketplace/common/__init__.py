"""The shared kernel: rules every feature needs and none owns.

``calendar`` (Rome's today, periods), ``disclosure`` (small-cell suppression), ``money``
(integer cents to text and back), ``csvio`` (reading and writing CSV safely) and
``locking`` (row locks in a fixed order, one timeout, one test switch). Nothing here
imports a service, a blueprint or a model module: every other layer may import it.
"""
