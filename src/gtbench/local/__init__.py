"""The client side of the local emulator: finding, starting and stopping it
(``lifecycle``), reading its ground truth (``truth``), and cutting a region off with
its nemesis (``cut``). The emulator itself (``gtbench.emulator``) knows nothing of
these; experiments reach it only through the DynamoDB wire protocol and these."""
