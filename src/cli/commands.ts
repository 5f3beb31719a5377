// One import per subcommand file; each calls register() from ./registry.
import './dap';
import './oops';
import './oops-decode';
import './cpus';
import './walk';
import './modules';
import './dmesg';
import './core';
import './ps';
import './bt';
