from gtbench.cli import main

main()
