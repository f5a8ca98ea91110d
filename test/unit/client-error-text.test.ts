/** The MariaDB client's errors as failure messages: the site data they quote is left out, the rest kept. */
import { describe, expect, it } from 'vitest';
import { clientErrorText } from '../../activities/lib/database-programs';

describe('clientErrorText', () => {
  it.each([
    [
      "ERROR 1062 (23000) at line 42: Duplicate entry 'sk_live_51Hsecret' for key 'PRIMARY'",
      "ERROR 1062 (23000) at line 42: Duplicate entry '…' for key 'PRIMARY'",
    ],
    [
      "ERROR 1064 (42000) at line 7: You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'sk_live_51Hsecret', '$P$Bhash')' at line 1",
      "ERROR 1064 (42000) at line 7: You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '…' at line 1",
    ],
    [
      "ERROR 1366 (22007) at line 9: Incorrect string value: '\\xF0\\x9F\\x98\\x80sk_live' for column `wp`.`wp_options`.`option_value` at row 1",
      "ERROR 1366 (22007) at line 9: Incorrect string value: '…' for column `wp`.`wp_options`.`option_value` at row 1",
    ],
    // Cut inside the quote (the message's last 300 characters taken first by the client's buffer): nothing after it.
    ["ERROR 1064 (42000) at line 7: … to use near 'INSERT INTO wp_users VALUES (1,'admin','$P$Bhash", "ERROR 1064 (42000) at line 7: … to use near '…'"],
    ["ERROR 1146 (42S02) at line 3: Table 'wp_site.wp_posts' doesn't exist", "ERROR 1146 (42S02) at line 3: Table 'wp_site.wp_posts' doesn't exist"],
  ])('%j', (stderr, expected) => {
    expect(clientErrorText(`${stderr}\n`)).toBe(expected);
    expect(clientErrorText(stderr)).not.toMatch(/sk_live|\$P\$B/);
  });
});
