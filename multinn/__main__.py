from multinn.cli import main

main(prog_name="multinn")
